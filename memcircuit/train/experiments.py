"""Small helpers for multi-seed training experiments (the paper-reproduction scripts).

* :func:`run_job`: one resumable training run (an ordinary run directory with ``metrics.json``
  and checkpoints) from a JSON-able job dict, for a process pool;
* :func:`run_jobs`: many of them on a local process pool, results by key;
* :func:`epochs_to`, :func:`mean_std`, :func:`fmt`: the statistics the tables report;
* :func:`pooled_images`: average-pooled image data sets (e.g. MNIST 28x28 -> 14x14), with the
  standardisation refitted on the training split (:func:`memcircuit.train.datasets.standardise`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from memcircuit.errors import ConfigError
from memcircuit.train.datasets import Dataset, load_dataset, standardise


def pooled_images(data: Dataset, side: int, pool: int) -> Dataset:
    """``data`` with its ``side x side`` images average-pooled by ``pool x pool`` (raw pixel units,
    then standardised again on the training split)."""
    if side * side != data.n_features or side % pool:
        raise ConfigError(f"{data.name}: {data.n_features} features are not {side}x{side} images divisible by {pool}")
    if pool == 1:
        return data

    def shrink(x: np.ndarray) -> np.ndarray:
        raw = (x * data.scale + data.mean).reshape(len(x), side // pool, pool, side // pool, pool)
        return raw.mean(axis=(2, 4)).reshape(len(x), (side // pool) ** 2)

    mean, scale, (x_tr, x_va, x_te) = standardise(shrink(data.x_train), shrink(data.x_val), shrink(data.x_test))
    return replace(data, name=f"{data.name}-pool{pool}", x_train=x_tr, x_val=x_va, x_test=x_te, mean=mean, scale=scale)


def load_job_data(job: dict[str, Any]) -> Dataset:
    """The data set a job names (split and standardised as the training loop does), average-pooled
    when the job has ``pool`` > 1 (square images only)."""
    pool = int(job.get("pool", 1))
    data = load_dataset(job["dataset"], seed=job.get("seed", 0), test_fraction=job.get("test_fraction", 0.2),
                        val_fraction=job.get("val_fraction", 0.0), max_train=job.get("max_train"),
                        max_test=job.get("max_test"), mnist_dir=job.get("mnist_dir"))
    if pool == 1:
        return data
    side = int(round(np.sqrt(data.n_features)))
    return pooled_images(data, side, pool)


def run_job(job: dict[str, Any], after: Callable | None = None) -> dict[str, Any]:
    """Train (or resume, or reuse) the run a job dict describes; returns its summary.

    ``job``: :class:`memcircuit.train.loop.TrainConfig` fields, plus ``out`` (run directory) and
    optionally ``pool`` (average-pool MNIST images). ``after(trainer, summary)`` may add entries
    to the summary while the trained network is still there (e.g. evaluations on noisy inputs).
    """
    from memcircuit.train.loop import TrainConfig, Trainer

    job = dict(job)
    out = Path(job.pop("out"))
    data = load_job_data(job) if job.get("pool", 1) != 1 else None
    job.pop("pool", None)
    trainer = Trainer(TrainConfig(**job), out, data=data)
    try:
        summary = trainer.run(resume=True)
        if after is not None:
            after(trainer, summary)
    finally:
        trainer.close()
    return summary


def run_jobs(jobs: dict[Hashable, dict[str, Any]], workers: int, fn: Callable = run_job) -> dict[Hashable, Any]:
    """``fn(job)`` for every job on a process pool (``workers`` processes; 1 = in this process)."""
    keys = list(jobs)
    if workers <= 1:
        return {k: fn(dict(jobs[k])) for k in keys}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return dict(zip(keys, pool.map(fn, [dict(jobs[k]) for k in keys])))


def epochs_to(rows: list[dict[str, Any]], target: float, key: str = "test_acc") -> float:
    """First epoch whose ``key`` reaches ``target`` (nan if never)."""
    for r in rows:
        if r.get(key) is not None and r[key] >= target:
            return float(r["epoch"])
    return float("nan")


def mean_std(values: Iterable[float]) -> tuple[float, float, int, int]:
    """(mean, sample standard deviation, finite count, count) of the finite values."""
    arr = np.asarray(list(values), dtype=float)
    ok = arr[np.isfinite(arr)]
    if ok.size == 0:
        return float("nan"), float("nan"), 0, arr.size
    return float(ok.mean()), float(ok.std(ddof=1)) if ok.size > 1 else 0.0, int(ok.size), int(arr.size)


def fmt(values: Iterable[float], digits: int = 1, scale: float = 1.0) -> str:
    """``mean +- std`` of the finite values (times ``scale``), with the count when some are missing."""
    m, s, n, total = mean_std(values)
    if n == 0:
        return "never"
    text = f"{scale * m:.{digits}f} +- {scale * s:.{digits}f}"
    return text if n == total else f"{text} ({n}/{total})"
