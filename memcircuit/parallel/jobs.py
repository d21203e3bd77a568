"""Jobs of a sweep and the isolated runner that executes one.

A job is a JSON-able dict ``{"id", "kind", "run", "params"}``: ``run`` names the function that
runs it, ``"package.module:function"``, ``fn(params, workdir) -> dict of metrics``; ``workdir``
is the job's own directory (``"workdir"`` in the job dict: a sweep gives each job
``OUT/jobs/<id>``, where a training run keeps its checkpoints; otherwise a temporary one). Its
ngspice run directories go there too.

Which function a kind name (``train``, ``tile``, ...) stands for is decided above this layer: the
code that builds a sweep (the command line) hands :class:`~memcircuit.parallel.sweep.SweepSpec` a
table of :class:`JobKind` s, and every job carries its resolved ``run`` target, so this module
never names a layer above it.

:func:`run_isolated` runs one job in a fresh Python process (its own ngspice, its own memory) with
a timeout, and always returns an outcome dict, never raises: a failed or hung job is a row in the
results table, not the end of the sweep. Only an interruption (:mod:`memcircuit.processes`) ends
the job without an outcome.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memcircuit import processes
from memcircuit.errors import ConfigError
from memcircuit.threads import blas_threads


@dataclass(frozen=True)
class JobKind:
    """A kind of job: ``run`` the ``"package.module:function"`` that runs one, ``check`` (optional)
    the one that validates a job's parameters without running it (:class:`ConfigError`)."""

    run: str
    check: str | None = None

    def __post_init__(self) -> None:
        for target in (self.run, self.check):
            if target is not None and ":" not in target:
                raise ConfigError(f"a job target is 'package.module:function', got {target!r}")


def load(target: str) -> Callable[..., Any]:
    """The function ``"package.module:function"`` names (:class:`ConfigError` if there is none)."""
    module_name, _, func_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"job function {target!r} is not available: {exc}") from None
    try:
        return getattr(module, func_name)
    except AttributeError:
        raise ConfigError(f"job function {target!r}: {module_name} has no function {func_name}") from None


def job_kind(kind: str, kinds: dict[str, JobKind]) -> JobKind:
    """The :class:`JobKind` of ``kind``: a name in ``kinds``, or a user's own
    ``"package.module:function"`` (not checked before it runs: it may exist on Dask workers only)."""
    if isinstance(kind, str) and kind in kinds:
        return kinds[kind]
    if not isinstance(kind, str) or ":" not in kind:
        choices = f"choose one of {', '.join(kinds)} or" if kinds else "give its"
        raise ConfigError(f"unknown job kind {kind!r}; {choices} package.module:function")
    return JobKind(kind)


def _job_main(job_path: str, out_path: str) -> int:  # pragma: no cover - runs in the child
    job = json.loads(Path(job_path).read_text())
    workdir = Path(job.get("workdir") or Path(out_path).parent)
    workdir.mkdir(parents=True, exist_ok=True)
    outcome: dict[str, Any] = {"id": job["id"]}
    start = time.perf_counter()
    try:
        metrics = load(job.get("run") or job_kind(job["kind"], {}).run)(dict(job["params"]), workdir)
        outcome.update(status="ok", metrics=metrics)
    except Exception as exc:  # report every failure as data
        timed_out = type(exc).__name__ == "TrainingTimeout"     # ended itself cleanly before the kill
        outcome.update(status="timeout" if timed_out else "error", error=f"{type(exc).__name__}: {exc}")
    outcome["seconds"] = round(time.perf_counter() - start, 3)
    Path(out_path).write_text(json.dumps(outcome))
    return 0


def job_time_left() -> float | None:
    """Seconds a job has left before its runner kills it (None outside a sweep job).

    :func:`run_isolated` sets ``MEMCIRCUIT_JOB_DEADLINE`` (a Unix time a little before the kill),
    so that a long job (training) can end by itself and keep its checkpoint.
    """
    text = os.environ.get("MEMCIRCUIT_JOB_DEADLINE")
    return None if not text else max(float(text) - time.time(), 1e-3)


def run_isolated(job: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one job in a fresh interpreter with a time limit; return its outcome dict.

    Works the same in a local pool thread and on a Dask worker (nothing but the job dict and the
    outcome cross the process boundary).
    """
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"memcircuit-job-{job['id'][:8]}-") as tmp:
        job_path, out_path = Path(tmp) / "job.json", Path(tmp) / "outcome.json"
        job_path.write_text(json.dumps(job))
        threads = str(blas_threads())  # parallelism comes from jobs, not from BLAS inside one
        env = dict(os.environ, MEMCIRCUIT_PROGRESS="", PYTHONUNBUFFERED="1", OMP_NUM_THREADS=threads,
                   OPENBLAS_NUM_THREADS=threads,
                   MEMCIRCUIT_JOB_DEADLINE=repr(time.time() + timeout - min(max(0.05 * timeout, 2.0), 30.0)))
        try:  # in a session of its own: a timeout or an interruption stops the job with its ngspice
            proc = processes.run([sys.executable, "-m", "memcircuit.parallel.jobs", str(job_path), str(out_path)],
                                 timeout=timeout, group=True, env=env, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return {"id": job["id"], "status": "timeout", "error": f"job exceeded {timeout:g} s and was killed",
                    "seconds": round(time.perf_counter() - start, 3)}
        if out_path.is_file():
            return json.loads(out_path.read_text())
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
        return {"id": job["id"], "status": "error",
                "error": f"job process died (exit code {proc.returncode}): {' | '.join(tail)}",
                "seconds": round(time.perf_counter() - start, 3)}


if __name__ == "__main__":  # pragma: no cover
    # a signal (or the death of the sweep) stops the job's own ngspice and workers too
    processes.exit_with_parent()
    sys.exit(processes.interruptible(lambda: _job_main(sys.argv[1], sys.argv[2])))
