#!/usr/bin/env python
"""Tile-parallel speed-up inside one training epoch: the tiles of a layer on 1 and 2 threads.

Trains the digits MLP 64-16-10 for one epoch at ``spice`` (or ``--fidelity hybrid``) with the
first layer split over 32 x 32 tiles (65 rows x 32 differential columns: three tiles), side by
side with ``parallel_tiles`` 1 and 2 (``--threads``), and prints seconds per epoch, the ratio to
one thread, the test accuracy and the largest conductance difference from the first row (0 when
the parallel path gives the sequential numbers).

ngspice 46 as packaged is built with OpenMP; the engines set its thread count (its variable
``num_threads``, which ``OMP_NUM_THREADS`` cannot override) from ``MEMCIRCUIT_NGSPICE_THREADS``,
default 1. ``--ngspice-threads 1,2`` runs every row with each count.

The network maps every layer onto a grid of ``--tile`` x ``--tile`` tiles and
``TrainConfig.parallel_tiles`` (``memcircuit train --parallel-tiles``) reads and programs the tiles
of a layer concurrently. The epoch is run with ``Trainer.run_epoch`` (no checkpoint).
``--max-units 8`` keeps a programming transient of a 32 x 32 tile to seconds.

    .venv/bin/python scripts/bench_parallel.py
    .venv/bin/python scripts/bench_parallel.py --ngspice-threads 1,2 --json out/parallel.json
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import click
import numpy as np

from memcircuit.fidelity import NGSPICE_FIDELITIES


@contextlib.contextmanager
def ngspice_threads(value: int):
    """``MEMCIRCUIT_NGSPICE_THREADS`` for the ngspice workers started inside the block."""
    from memcircuit.spice.engine import THREADS_ENV

    old = os.environ.get(THREADS_ENV)
    os.environ[THREADS_ENV] = str(value)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(THREADS_ENV, None)
        else:
            os.environ[THREADS_ENV] = old


@click.command()
@click.option("--fidelity", type=click.Choice(NGSPICE_FIDELITIES), default="spice", show_default=True)
@click.option("--threads", default="1,2", show_default=True, help="parallel_tiles values, side by side.")
@click.option("--ngspice-threads", "thread_counts", default="1", show_default=True,
              help="ngspice OpenMP thread counts (num_threads), every row with each.")
@click.option("--tile", default=32, show_default=True, type=int, help="Physical tile size (rows = cols).")
@click.option("--max-train", default=64, show_default=True, type=int, help="Training subset (samples).")
@click.option("--max-test", default=64, show_default=True, type=int, help="Test subset (samples).")
@click.option("--batch", default=32, show_default=True, type=int)
@click.option("--max-units", default=8, show_default=True, type=int, help="Longest pulse per step, in time units.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--timeout", default=1800.0, show_default=True, type=float, help="Seconds per ngspice run.")
@click.option("--json", "json_out", metavar="FILE|-", help="Also write the table as JSON.")
def main(fidelity, threads, thread_counts, tile, max_train, max_test, batch, max_units, seed, timeout,
         json_out) -> None:
    """Seconds per training epoch with the tiles of a layer on 1 and 2 threads (see the module doc)."""
    from memcircuit.cli.common import emit_json
    from memcircuit.train.loop import TrainConfig, Trainer

    rows, reference = [], None
    for n_threads in (int(k) for k in thread_counts.split(",")):
        for p in (int(k) for k in threads.split(",")):
            cfg = TrainConfig(dataset="digits", layers=(64, 16, 10), device="exp-pulse", optimizer="momentum",
                              fidelity=fidelity, epochs=1, batch=batch, seed=seed, max_train=max_train,
                              max_test=max_test, max_units=max_units, tile_rows=tile, tile_cols=tile,
                              parallel_tiles=p, tile_options={"timeout": timeout})
            with ngspice_threads(n_threads), tempfile.TemporaryDirectory() as tmp:
                trainer = Trainer(cfg, Path(tmp) / "run")
                try:
                    grid = [len(layer.all_tiles()) for layer in trainer.net.layers]
                    row = trainer.run_epoch(1)
                    g = np.concatenate([t.conductances().ravel() for t in trainer.net.tiles()])
                finally:
                    trainer.close()
            if reference is None:
                reference = g
            rows.append({"parallel_tiles": p, "ngspice_threads": n_threads, "tiles_per_layer": grid,
                         "seconds": round(row["seconds"], 2), "test_acc": row["test_acc"],
                         "max_rel_dg": float(np.max(np.abs(g - reference)) / np.max(np.abs(reference)))})
    base = rows[0]["seconds"]
    for r in rows:
        r["speedup"] = round(base / r["seconds"], 2)
    click.echo(f"digits 64-16-10, {fidelity}, {tile}x{tile} tiles (tiles per layer {rows[0]['tiles_per_layer']}), "
               f"{max_train} train / {max_test} test samples, batch {batch}, 1 epoch")
    click.echo("| parallel_tiles | ngspice threads | s / epoch | vs first row | test acc | max rel. dG vs first row |")
    click.echo("|---|---|---|---|---|---|")
    for r in rows:
        click.echo(f"| {r['parallel_tiles']} | {r['ngspice_threads']} | {r['seconds']:.2f} | {r['speedup']:.2f}x | "
                   f"{r['test_acc']:.4f} | {r['max_rel_dg']:.1e} |")
    if json_out:
        emit_json({"fidelity": fidelity, "tile": tile, "max_train": max_train, "max_test": max_test, "batch": batch,
                   "max_units": max_units, "rows": rows}, json_out)


if __name__ == "__main__":
    main()
