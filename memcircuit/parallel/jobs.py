"""Job kinds a sweep can run, and the isolated runner that executes one job.

A job is a JSON-able dict ``{"kind": ..., "params": {...}}``. Each kind is a function
``fn(params, workdir) -> dict of metrics`` registered in :data:`KINDS`; ``workdir`` is the job's
own directory (``"workdir"`` in the job dict: a sweep gives each job ``OUT/jobs/<id>``, where a
training run keeps its checkpoints; otherwise a temporary one). Its ngspice run directories go
there too.

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
from pathlib import Path
from typing import Any

from memcircuit import processes
from memcircuit.errors import ConfigError
from memcircuit.threads import blas_threads

JobFn = Callable[[dict[str, Any], Path], dict[str, Any]]
KINDS: dict[str, str] = {
    # kind -> "module:function"; imported lazily inside the job process.
    "spice": "memcircuit.parallel.jobs:spice_job",
    "train": "memcircuit.train.jobs:train_job",
    "device": "memcircuit.devices.jobs:device_job",
    "tile": "memcircuit.tiles.jobs:tile_job",
}
CHECKS: dict[str, str] = {
    # kind -> "module:function" that validates a job's parameters without running it
    "spice": "memcircuit.parallel.jobs:check_spice_job",
    "train": "memcircuit.train.jobs:check_job",
    "device": "memcircuit.devices.jobs:check_job",
    "tile": "memcircuit.tiles.jobs:check_job",
}


def _load(kind: str, target: str) -> Callable[..., Any]:
    """The function ``"package.module:function"`` names (:class:`ConfigError` if there is none)."""
    module_name, _, func_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"job kind {kind!r} is not available: {exc}") from None
    try:
        return getattr(module, func_name)
    except AttributeError:
        raise ConfigError(f"job kind {kind!r}: {module_name} has no function {func_name}") from None


def resolve(kind: str) -> JobFn:
    """The job function for ``kind`` (a registered name or ``"package.module:function"``)."""
    target = KINDS.get(kind, kind)
    if ":" not in target:
        raise ConfigError(f"unknown job kind {kind!r}; choose one of {', '.join(KINDS)} or module:function")
    return _load(kind, target)


def check(kind: str, params: dict[str, Any]) -> None:
    """Validate one job's parameters before any job runs (:class:`ConfigError`). A
    ``module:function`` kind is the user's own (it may exist on Dask workers only): not checked."""
    if kind in CHECKS:
        _load(kind, CHECKS[kind])(dict(params))


_SPICE_KEYS = {"netlist", "analysis", "measure", "spice_timeout", "allow_include"}


def _spice_inputs(params: dict[str, Any]) -> tuple[Path, dict[str, float], Any, list[str], float]:
    """``(netlist, overrides, analysis, measure, timeout)`` of a spice job; :class:`ConfigError`
    naming the first unknown key or malformed value."""
    from memcircuit.netlist.ir import Op, Tran
    from memcircuit.units import parse_si

    unknown = {k for k in params if k not in _SPICE_KEYS and not k.startswith("params.")}
    if unknown:
        raise ConfigError(f"unknown spice job parameter(s): {', '.join(sorted(unknown))}; valid: "
                          f"{', '.join(sorted(_SPICE_KEYS))}, params.<name>")
    if not isinstance(params.get("netlist"), str):
        raise ConfigError(f"a spice job needs netlist: the path of a netlist file, got {params.get('netlist')!r}")
    netlist = Path(params["netlist"])   # whether it exists is the job's concern: it may live on a Dask worker
    overrides = {k.split(".", 1)[1]: parse_si(v, name=k) for k, v in params.items() if k.startswith("params.")}
    words = str(params.get("analysis", "op")).split()
    if words == ["op"]:
        analysis = Op()
    elif len(words) == 3 and words[0] == "tran":
        analysis = Tran(parse_si(words[1], name="analysis step"), parse_si(words[2], name="analysis stop"))
    else:
        raise ConfigError(f"analysis must be 'op' or 'tran STEP STOP', got {params.get('analysis')!r}")
    measure = params.get("measure", [])
    if not isinstance(measure, list) or not all(isinstance(m, str) for m in measure):
        raise ConfigError(f"measure must be a list of vector names like v(out), got {measure!r}")
    folders = params.get("allow_include", [])
    if not isinstance(folders, list) or not all(isinstance(f, str) for f in folders):
        raise ConfigError(f"allow_include must be a list of folders, got {folders!r}")
    return netlist, overrides, analysis, measure, parse_si(params.get("spice_timeout", 120), name="spice_timeout")


def check_spice_job(params: dict[str, Any]) -> None:
    """Validate a ``spice`` job's parameters without simulating (:class:`ConfigError`)."""
    _spice_inputs(params)


def spice_job(params: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Simulate a netlist file with ``.param`` overrides and report chosen vectors.

    params: ``netlist`` (path), ``analysis`` ("op" or "tran STEP STOP"), ``measure`` (vector
    names; op gives the value, tran the final value), ``params.<name>`` (.param overrides, SI),
    ``spice_timeout`` (s, 120), ``allow_include`` (folders its .include/.lib cards may read
    besides its own; the CLI's ``--allow-include``).
    """
    from memcircuit.netlist.names import sanitize
    from memcircuit.spice import BatchEngine, UserNetlist
    from memcircuit.units import format_spice

    netlist, overrides, analysis, measure, timeout = _spice_inputs(params)
    text = netlist.read_text()
    if overrides:
        lines = text.splitlines()
        card = ".param " + " ".join(f"{sanitize(k)}={format_spice(v)}" for k, v in overrides.items())
        # A later .param wins in ngspice, so the override goes right after the title line's cards.
        text = "\n".join([*lines[:-1], card, lines[-1]] if lines[-1].strip().lower() == ".end" else [*lines, card])
    user = UserNetlist.from_text(text, source=str(netlist), folder=netlist.absolute().parent,
                                 allow_include=params.get("allow_include", ()))
    result = BatchEngine(run_root=workdir, timeout=timeout).run(user, analysis)
    return {name: float(result[name][-1]) for name in measure}


def _job_main(job_path: str, out_path: str) -> int:  # pragma: no cover - runs in the child
    job = json.loads(Path(job_path).read_text())
    workdir = Path(job.get("workdir") or Path(out_path).parent)
    workdir.mkdir(parents=True, exist_ok=True)
    outcome: dict[str, Any] = {"id": job["id"]}
    start = time.perf_counter()
    try:
        metrics = resolve(job["kind"])(dict(job["params"]), workdir)
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
