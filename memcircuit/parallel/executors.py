"""Executors for independent jobs: a local pool (default) and Dask distributed (scale-out).

Both run :func:`memcircuit.parallel.jobs.run_isolated` for each job, so a job is a fresh Python
process with its own ngspice wherever it runs, and both yield ``(job, outcome)`` as jobs finish.
On 2 cores a local pool is as fast as Dask (docs/DESIGN.md); Dask is for clusters: pass the scheduler
address of an existing cluster, or let it start a ``LocalCluster``.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from memcircuit.errors import ConfigError
from memcircuit.parallel.jobs import run_isolated


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


class Executor(abc.ABC):
    name = "executor"

    @abc.abstractmethod
    def run(self, jobs: list[dict[str, Any]], timeout: float) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """Yield ``(job, outcome)`` for every job as it finishes."""

    def close(self) -> None:
        """Release workers."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LocalExecutor(Executor):
    """``workers`` job processes at a time on this machine (threads only wait on them)."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and workers < 1:
            raise ConfigError("--workers must be >= 1")
        self.workers = workers or default_workers()

    def run(self, jobs, timeout):
        if not jobs:
            return
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="memcircuit-job") as pool:
            futures = {pool.submit(run_isolated, job, timeout): job for job in jobs}
            for future in as_completed(futures):
                yield futures[future], future.result()


class DaskExecutor(Executor):
    """Dask distributed: an existing cluster at ``scheduler`` or a ``LocalCluster`` of ``workers``."""

    name = "dask"

    def __init__(self, scheduler: str | None = None, workers: int | None = None) -> None:
        try:  # optional (the `dask` extra): the local pool needs nothing beyond the standard library
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError("the dask executor needs the 'dask' extra: pip install 'memcircuit[dask]'") from None
        self._cluster = None
        try:
            if scheduler:
                self.client = Client(scheduler, timeout="20s")
            else:
                n = workers or default_workers()
                # One single-threaded worker per job slot. Jobs are processes of their own, so the
                # workers may live in this process (no re-import of the caller's __main__).
                self._cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=False,
                                             dashboard_address=None, silence_logs=40)
                self.client = Client(self._cluster)
        except OSError as exc:
            raise ConfigError(f"cannot reach the Dask scheduler {scheduler!r}: {exc}") from None

    def run(self, jobs, timeout):
        if not jobs:
            return
        from dask.distributed import as_completed as dask_completed

        futures = {self.client.submit(run_isolated, job, timeout, pure=False, key=f"job-{job['id']}"): job
                   for job in jobs}
        for future in dask_completed(list(futures)):
            job = futures[future]
            try:
                yield job, future.result()
            except Exception as exc:  # a worker lost mid-job: report, keep going
                yield job, {"id": job["id"], "status": "error", "error": f"dask: {type(exc).__name__}: {exc}"}

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(name: str, *, workers: int | None = None, scheduler: str | None = None) -> Executor:
    if name == "local":
        if scheduler:
            raise ConfigError("--scheduler only applies to --executor dask")
        return LocalExecutor(workers)
    if name == "dask":
        return DaskExecutor(scheduler, workers)
    raise ConfigError(f"unknown executor {name!r}; choose local or dask")
