#!/usr/bin/env python
"""Training speed at each fidelity, and the accuracy difference between fidelities.

Trains the same network with the same seed at every fidelity side by side and prints seconds per
epoch, the speed-up against ``spice`` and the test accuracy difference against ``spice``.
Defaults: a breast-cancer MLP 30-16-2 (batch 32) and a digits MLP 64-16-10 (batch 32), one
epoch each, momentum SGD on the ``exp-pulse`` device, zero wire resistance. ``digits-cnn``: a
small CNN on the digits (``conv:4x3x3,relu,maxpool:2,flatten,dense:10``, conv by im2col: one
read per output position).

    .venv/bin/python scripts/bench_train.py                        # both nets, all fidelities
    .venv/bin/python scripts/bench_train.py --sets wbc --epochs 3 --fidelities spice,numeric
    .venv/bin/python scripts/bench_train.py --max-train 64          # subset for the slow fidelities
    .venv/bin/python scripts/bench_train.py --sets digits,digits-cnn --fidelities numeric,ideal
    .venv/bin/python scripts/bench_train.py --sets wbc --fidelities spice --optimizers momentum,lr-cell
        # optimizers side by side: the last column is seconds per epoch against the first optimizer

Targets (issue 5): a 30-16-2 epoch at ``spice`` (reads and programming in ngspice) in at most
2 minutes on 2 cores; ``numeric`` at least 50x faster than ``spice`` and within 1 % test accuracy.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import click

from memcircuit.fidelity import NGSPICE_FIDELITIES

NETS = {
    "wbc": dict(dataset="breast-cancer", layers=(30, 16, 2)),
    "digits": dict(dataset="digits", layers=(64, 16, 10)),
    "digits-cnn": dict(dataset="digits", model="conv:4x3x3,relu,maxpool:2,flatten,dense:10"),
}


@click.command()
@click.option("--sets", default="wbc,digits", show_default=True, help="Networks: wbc, digits, digits-cnn.")
@click.option("--fidelities", default="spice,hybrid,numeric,ideal", show_default=True)
@click.option("--epochs", default=1, show_default=True, type=int)
@click.option("--batch", default=32, show_default=True, type=int)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--optimizers", default="momentum", show_default=True,
              help="Comma-separated optimizers, each run at every fidelity; compared with the first.")
@click.option("--lr", default=0.1, show_default=True, type=float)
@click.option("--device", default="exp-pulse", show_default=True)
@click.option("--r-wire", default=0.0, show_default=True, type=float, help="Ohm per segment.")
@click.option("--max-train", type=int, help="Training subset (seconds per epoch are then extrapolated to "
              "the full training split, linear in the number of mini-batches).")
@click.option("--max-test", type=int, help="Test subset.")
@click.option("--levels", default=1000.0, show_default=True, type=float, help="Unit pulses per conductance range.")
@click.option("--max-units", default=128, show_default=True, type=int, help="Longest pulse in units.")
@click.option("--timeout", default=3600.0, show_default=True, type=float, help="Seconds per ngspice run.")
@click.option("--workers", default=1, show_default=True, type=int, help="ngspice workers per tile.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Write the table as JSON.")
def main(sets, fidelities, epochs, batch, seed, optimizers, lr, device, r_wire, max_train, max_test, levels, max_units,
         timeout, workers, json_out) -> None:
    """Seconds per epoch and accuracy per fidelity, side by side in one run."""
    import math

    from memcircuit.train.datasets import load_dataset
    from memcircuit.train.loop import TrainConfig, Trainer

    rows = []
    runs = [(name, opt, fid) for name in sets.split(",") for opt in optimizers.split(",")
            for fid in fidelities.split(",")]
    for name, optimizer, fid in runs:
        net = NETS[name]
        spice_kw = {"timeout": timeout} if fid in NGSPICE_FIDELITIES else {}
        cfg = TrainConfig(**net, device=device, optimizer=optimizer, lr=lr, fidelity=fid, epochs=epochs,
                          batch=batch, seed=seed, r_wire=r_wire, workers=workers, max_train=max_train,
                          max_test=max_test, levels=levels, max_units=max_units, tile_options=spice_kw)
        full = len(load_dataset(net["dataset"], seed=seed).y_train)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            trainer = Trainer(cfg, Path(tmp) / "run")
            try:
                summary = trainer.run()
            finally:
                trainer.close()
            total = time.perf_counter() - t0
        ep = summary["epochs"]
        used = summary["dataset"]["train"]
        measured = sum(r["seconds"] for r in ep) / len(ep)
        row = {"net": name, "optimizer": optimizer, "fidelity": fid, "train_samples": used, "full_train": full,
               "s_per_epoch_measured": measured,
               "s_per_epoch": measured * math.ceil(full / batch) / math.ceil(used / batch), "total_s": total,
               "test_acc": summary["final_test_acc"], "train_acc": summary["final_train_acc"],
               "pulses": summary["pulses_total"], "energy_j": summary["energy_j_total"]}
        rows.append(row)
        click.echo(f"{name:7s} {optimizer:9s} {fid:8s} {row['s_per_epoch']:9.2f} s/epoch  "
                   f"test {100 * row['test_acc']:.2f} %", err=True)
    first = optimizers.split(",")[0]
    click.echo("\n| net | optimizer | fidelity | train samples used | s / epoch (full split) | speed-up vs spice | "
               f"test acc (%) | diff vs spice (pp) | pulses | energy (J) | time vs {first} |")
    click.echo("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        same = [r for r in rows if r["net"] == row["net"]]
        ref = next((r for r in same if r["optimizer"] == row["optimizer"] and r["fidelity"] == "spice"), None)
        base = next(r for r in same if r["optimizer"] == first and r["fidelity"] == row["fidelity"])
        speed = f"{ref['s_per_epoch'] / row['s_per_epoch']:.1f}x" if ref else "-"
        diff = f"{100 * (row['test_acc'] - ref['test_acc']):+.2f}" if ref else "-"
        click.echo(f"| {row['net']} | {row['optimizer']} | {row['fidelity']} | {row['train_samples']} | "
                   f"{row['s_per_epoch']:.2f} | {speed} | {100 * row['test_acc']:.2f} | {diff} | {row['pulses']} | "
                   f"{row['energy_j']:.3g} | {row['s_per_epoch'] / base['s_per_epoch']:.2f}x |")
    if json_out:
        from memcircuit.fileio import write_atomic

        write_atomic(json_out, json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
