#!/usr/bin/env python
"""Paper 3 (Yan et al., Neural Networks 128, 2020): momentum + adaptive LR against plain SGD on
the same circuit, and paper 1's learning-rate cells against the best hand-tuned fixed LR.

Experiment A, on breast cancer Wisconsin and three more data sets: ``sgd`` (Soudry et al. 2015
outer-product circuit), ``momentum`` and ``adaptive`` (momentum + RMSprop), each over ``--seeds``
seeds; epochs to a target test accuracy and final test accuracy, mean and standard deviation.
Experiment B, on breast cancer: ``lr-cell`` (per layer, initial rate not tuned) against plain SGD
at the best fixed learning rate of a grid (chosen by mean final validation accuracy), without and
with device-to-device variation.

Every run is an ordinary training run directory under ``--out`` (``metrics.json``, checkpoints);
running the script again resumes unfinished runs and reuses finished ones. The tables are printed
as Markdown and written to ``OUT/results.json``.

    .venv/bin/python scripts/reproduce_p3.py                     # the docs/RESULTS.md numbers (~1 h, 2 cores)
    .venv/bin/python scripts/reproduce_p3.py --seeds 10 --fidelity numeric --epochs 30   # bigger / slower
    .venv/bin/python scripts/reproduce_p3.py --sets iris --seeds 5 --skip-b               # a quick look
    .venv/bin/python scripts/reproduce_p3.py --skip-a --b-set iris --seeds 3 --epochs 5 --fidelity spice
        # experiment B on iris with the learning-rate cells' circuits in ngspice
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import click
import numpy as np

SETS = {  # dataset: (layers, target test accuracy, batch, training subset)
    "breast-cancer": ((30, 16, 2), 0.97, 16, None),
    "iris": ((4, 8, 3), 0.90, 8, None),
    "wine": ((13, 10, 3), 0.95, 8, None),
    "digits": ((64, 16, 10), 0.85, 16, 300),
}
OPTIMIZERS = {"sgd": {"lr": 1.0}, "momentum": {"lr": 0.1}, "adaptive": {"lr": 0.01}}
SGD_GRID = (0.3, 1.0, 3.0)


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """One training run (resumed if its directory exists); returns its epoch rows."""
    from memcircuit.train.loop import TrainConfig, Trainer

    out = Path(job.pop("out"))
    trainer = Trainer(TrainConfig(**job), out)
    try:
        summary = trainer.run(resume=True)
    finally:
        trainer.close()
    return {"rows": summary["epochs"], "final_test_acc": summary["final_test_acc"]}


def _first(rows: list[dict[str, Any]], target: float) -> float:
    for r in rows:
        if r["test_acc"] >= target:
            return float(r["epoch"])
    return float("nan")


def _stat(values: list[float]) -> str:
    arr = np.asarray(values, dtype=float)
    ok = arr[np.isfinite(arr)]
    if ok.size == 0:
        return "never"
    text = f"{ok.mean():.2f} +- {ok.std(ddof=1) if ok.size > 1 else 0.0:.2f}"
    return text + ("" if ok.size == arr.size else f" ({ok.size}/{arr.size} reached)")


@click.command()
@click.option("--out", default="out/p3", show_default=True, type=click.Path(file_okay=False))
@click.option("--seeds", default=5, show_default=True, type=int)
@click.option("--epochs", default=10, show_default=True, type=int)
@click.option("--fidelity", default="ideal", show_default=True)
@click.option("--levels", default=200.0, show_default=True, type=float, help="Unit pulses per conductance range.")
@click.option("--max-units", default=32, show_default=True, type=int, help="Longest pulse in units.")
@click.option("--device", default="exp-pulse", show_default=True)
@click.option("--sets", default=",".join(SETS), show_default=True)
@click.option("--variation", default=0.1, show_default=True, type=float,
              help="Device-to-device spread for experiment B's 'with variation' rows.")
@click.option("--workers", default=2, show_default=True, type=int, help="Parallel training runs.")
@click.option("--r-wire", default=0.0, show_default=True, type=float,
              help="Ohm per wire segment (IR drop in reads and programming at the numeric/spice fidelities).")
@click.option("--skip-b", is_flag=True, help="Only experiment A.")
@click.option("--skip-a", is_flag=True, help="Only experiment B.")
@click.option("--b-set", default="breast-cancer", show_default=True, type=click.Choice(list(SETS)),
              help="Data set of experiment B.")
def main(out, seeds, epochs, fidelity, levels, max_units, device, sets, variation, workers, r_wire, skip_b, skip_a,
         b_set) -> None:
    base = dict(device=device, fidelity=fidelity, epochs=epochs, val_fraction=0.15, levels=levels,
                max_units=max_units, r_wire=r_wire)
    jobs: dict[tuple, dict[str, Any]] = {}
    a_sets = [] if skip_a else sets.split(",")
    for name in a_sets:
        layers, _, batch, max_train = SETS[name]
        for opt, kw in OPTIMIZERS.items():
            for seed in range(seeds):
                jobs[("A", name, opt, seed)] = dict(base, dataset=name, layers=layers, batch=batch, optimizer=opt,
                                                    max_train=max_train,
                                                    seed=seed, out=f"{out}/A/{name}/{opt}/seed{seed}", **kw)
    if not skip_b:
        layers, b_target, batch, _ = SETS[b_set]
        for var in (0.0, variation):
            for seed in range(seeds):
                common = dict(base, dataset=b_set, layers=layers, batch=batch, seed=seed, variation=var)
                for lr in SGD_GRID:
                    jobs[("B", var, f"sgd@{lr:g}", seed)] = dict(common, optimizer="sgd", lr=lr,
                                                                 out=f"{out}/B/{b_set}/var{var:g}/sgd{lr:g}/seed{seed}")
                jobs[("B", var, "lr-cell", seed)] = dict(common, optimizer="lr-cell", lr=3.0,
                                                         out=f"{out}/B/{b_set}/var{var:g}/lrcell/seed{seed}")
    keys = list(jobs)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = dict(zip(keys, pool.map(run_one, [dict(jobs[k]) for k in keys])))

    report: dict[str, Any] = {"config": {"seeds": seeds, "epochs": epochs, "fidelity": fidelity, "device": device,
                                         "levels": levels, "max_units": max_units, "r_wire": r_wire},
                              "A": [], "B": []}
    click.echo(f"\n### A: momentum and adaptive LR against SGD ({fidelity}, r_wire {r_wire:g} ohm, {device}, "
               f"{seeds} seeds, {epochs} epochs)\n")
    click.echo("| data set | optimizer | lr | target | epochs to target | final test acc (%) |")
    click.echo("|---|---|---|---|---|---|")
    for name in a_sets:
        _, target, _, _ = SETS[name]
        for opt, kw in OPTIMIZERS.items():
            res = [results[("A", name, opt, s)] for s in range(seeds)]
            ett = [_first(r["rows"], target) for r in res]
            acc = [100 * r["final_test_acc"] for r in res]
            report["A"].append({"dataset": name, "optimizer": opt, "lr": kw["lr"], "target": target,
                                "epochs_to_target": ett, "final_test_acc": acc})
            click.echo(f"| {name} | {opt} | {kw['lr']:g} | {100 * target:.0f} % | {_stat(ett)} | {_stat(acc)} |")
    if not skip_b:
        click.echo(f"\n### B: learning-rate cells against the best fixed LR ({b_set}, {fidelity}, {seeds} seeds)\n")
        click.echo(f"| variation | rule | epochs to {100 * b_target:.0f} % | final test acc (%) | final val acc (%) |")
        click.echo("|---|---|---|---|---|")
        for var in (0.0, variation):
            val = {lr: np.mean([results[("B", var, f"sgd@{lr:g}", s)]["rows"][-1]["val_acc"] for s in range(seeds)])
                   for lr in SGD_GRID}
            best = max(val, key=val.get)
            for label, key in ((f"sgd, best fixed lr {best:g} of {', '.join(map(str, SGD_GRID))}", f"sgd@{best:g}"),
                               ("lr-cell per layer, lr0 = 3 (untuned)", "lr-cell")):
                res = [results[("B", var, key, s)] for s in range(seeds)]
                ett = [_first(r["rows"], b_target) for r in res]
                acc = [100 * r["final_test_acc"] for r in res]
                vacc = [100 * r["rows"][-1]["val_acc"] for r in res]
                report["B"].append({"variation": var, "rule": label, "epochs_to_target": ett, "final_test_acc": acc,
                                    "final_val_acc": vacc})
                click.echo(f"| {var:g} | {label} | {_stat(ett)} | {_stat(acc)} | {_stat(vacc)} |")
    Path(out).mkdir(parents=True, exist_ok=True)
    from memcircuit.fileio import write_atomic

    write_atomic(Path(out) / "results.json", json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
