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

JobFn = Callable[[dict[str, Any], Path], dict[str, Any]]
KINDS: dict[str, str] = {
    # kind -> "module:function"; imported lazily inside the job process.
    "spice": "memcircuit.parallel.jobs:spice_job",
    "train": "memcircuit.train.jobs:train_job",
    "device": "memcircuit.devices.jobs:device_job",
    "tile": "memcircuit.tiles.jobs:tile_job",
}


def resolve(kind: str) -> JobFn:
    """The job function for ``kind`` (a registered name or ``"package.module:function"``)."""
    target = KINDS.get(kind, kind)
    if ":" not in target:
        raise ConfigError(f"unknown job kind {kind!r}; choose one of {', '.join(KINDS)} or module:function")
    module_name, _, func_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"job kind {kind!r} is not available: {exc}") from None
    try:
        return getattr(module, func_name)
    except AttributeError:
        raise ConfigError(f"job kind {kind!r}: {module_name} has no function {func_name}") from None


def spice_job(params: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Simulate a netlist file with ``.param`` overrides and report chosen vectors.

    params: ``netlist`` (path), ``analysis`` ("op" or "tran STEP STOP"), ``measure`` (vector
    names; op gives the value, tran the final value), ``params.<name>`` (.param overrides, SI),
    ``allow_include`` (folders its .include/.lib cards may read besides its own; the CLI's
    ``--allow-include``).
    """
    from memcircuit.netlist.ir import Op, Tran
    from memcircuit.netlist.names import sanitize
    from memcircuit.spice import BatchEngine, UserNetlist
    from memcircuit.units import format_spice, parse_si

    netlist = Path(params["netlist"])
    overrides = {k.split(".", 1)[1]: parse_si(v, name=k) for k, v in params.items() if k.startswith("params.")}
    text = netlist.read_text()
    if overrides:
        lines = text.splitlines()
        card = ".param " + " ".join(f"{sanitize(k)}={format_spice(v)}" for k, v in overrides.items())
        # A later .param wins in ngspice, so the override goes right after the title line's cards.
        text = "\n".join([*lines[:-1], card, lines[-1]] if lines[-1].strip().lower() == ".end" else [*lines, card])
    user = UserNetlist.from_text(text, source=str(netlist), folder=netlist.absolute().parent,
                                 allow_include=params.get("allow_include", ()))
    words = str(params.get("analysis", "op")).split()
    analysis = Op() if words[0] == "op" else Tran(parse_si(words[1]), parse_si(words[2]))
    result = BatchEngine(run_root=workdir, timeout=float(params.get("spice_timeout", 120))).run(user, analysis)
    return {name: float(result[name][-1]) for name in params.get("measure", [])}


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
        env = dict(os.environ, MEMCIRCUIT_PROGRESS="", PYTHONUNBUFFERED="1",
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
