"""Parameter and Monte-Carlo sweeps: a YAML spec expanded into isolated jobs, run on an executor,
resumable, and gathered into one table.

Spec (YAML)::

    name: variation-study           # optional
    kind: train                     # a name of the kinds table, or package.module:function
    base:                           # parameters every job gets
      dataset: iris
      layers: [4, 8, 3]
      epochs: 5
    axes:                           # swept values; dotted names reach nested parameters
      seed: [0, 1, 2, 3, 4]
      device.spread: [0.0, 0.1, 0.3]
    mode: grid                      # grid (every combination) or zip (same-length axes in step)
    timeout: 900                    # seconds per job

The kind names (``spice``, ``train``, ``device``, ``tile`` on the command line) come from the table of
:class:`~memcircuit.parallel.jobs.JobKind` s the caller passes (``kinds=``); a spec may also name a
function of its own, ``package.module:function``.

Every job's parameters are checked before any job runs (unknown keys, values of the wrong kind,
sizes too large for the machine's memory): a bad spec is one error, not a table of failed jobs.

Output directory: ``jobs/<id>/outcome.json`` per job (written atomically when the job ends),
``results.csv`` and ``results.json`` (the table, written last). Re-running the same sweep skips
jobs whose outcome is ``ok`` and re-runs failed, timed-out and unfinished ones.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memcircuit.errors import ConfigError
from memcircuit.fileio import write_atomic
from memcircuit.parallel.executors import Executor
from memcircuit.parallel.jobs import JobKind, job_kind, load

_SPEC_KEYS = {"name", "kind", "base", "axes", "mode", "timeout"}


@dataclass(frozen=True)
class SweepSpec:
    """A parsed, validated sweep specification."""

    kind: str
    base: dict[str, Any]
    axes: dict[str, list[Any]]
    mode: str = "grid"
    timeout: float = 1800.0
    name: str = "sweep"
    source_dir: Path = field(default_factory=Path.cwd)
    job: JobKind | None = None    # what runs and checks the jobs (None: ``kind`` is package.module:function)

    def __post_init__(self) -> None:
        if self.job is None:
            object.__setattr__(self, "job", job_kind(self.kind, {}))

    @classmethod
    def from_dict(cls, data: Any, *, kinds: dict[str, JobKind] | None = None,
                  source_dir: Path | None = None) -> SweepSpec:
        """A spec from its parsed YAML; ``kinds`` maps the kind names it may use to their
        :class:`~memcircuit.parallel.jobs.JobKind` (a ``package.module:function`` kind needs none)."""
        if not isinstance(data, dict):
            raise ConfigError("a sweep spec is a mapping with keys kind, base, axes")
        unknown = set(data) - _SPEC_KEYS
        if unknown:
            raise ConfigError(f"unknown sweep spec keys {sorted(unknown)}; valid: {sorted(_SPEC_KEYS)}")
        kind = data.get("kind")
        job = job_kind(kind, kinds or {})
        base = data.get("base") or {}
        axes = data.get("axes") or {}
        if not isinstance(base, dict) or not isinstance(axes, dict):
            raise ConfigError("'base' and 'axes' must be mappings")
        for name, values in axes.items():
            if not isinstance(values, list) or not values:
                raise ConfigError(f"axis {name!r} must be a non-empty list of values")
        mode = data.get("mode", "grid")
        if mode not in ("grid", "zip"):
            raise ConfigError(f"mode must be 'grid' or 'zip', got {mode!r}")
        if mode == "zip" and len({len(v) for v in axes.values()}) > 1:
            raise ConfigError("mode 'zip' needs every axis to have the same length")
        try:
            timeout = float(data.get("timeout", 1800))
        except (TypeError, ValueError):
            raise ConfigError(f"timeout must be a number of seconds, got {data.get('timeout')!r}") from None
        if timeout <= 0:
            raise ConfigError("timeout must be > 0 s")
        return cls(kind=kind, base=dict(base), axes={k: list(v) for k, v in axes.items()}, mode=mode,
                   timeout=timeout, name=str(data.get("name", "sweep")), source_dir=source_dir or Path.cwd(), job=job)

    @classmethod
    def from_file(cls, path: str | Path, *, kinds: dict[str, JobKind] | None = None) -> SweepSpec:
        import yaml

        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"sweep spec not found: {p}")
        try:
            data = yaml.safe_load(p.read_text())
        except yaml.YAMLError as exc:  # its text quotes the file: give the problem and place only
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or "parse error"
            raise ConfigError(f"{p}: not valid YAML ({problem}{where})") from None
        return cls.from_dict(data, kinds=kinds, source_dir=p.resolve().parent)

    def points(self) -> list[dict[str, Any]]:
        """The swept values of every job, in a stable order."""
        names = list(self.axes)
        combos: Iterable[tuple] = (itertools.product(*self.axes.values()) if self.mode == "grid"
                                   else zip(*self.axes.values()))
        return [dict(zip(names, combo)) for combo in combos]

    def jobs(self) -> list[dict[str, Any]]:
        """Job dicts ``{"id", "kind", "run", "params", "point"}``; ids hash kind and parameters."""
        out = []
        for point in self.points():
            params = _resolve_paths(dict(self.base), self.source_dir)
            for dotted, value in point.items():
                params[dotted] = value
            canonical = json.dumps({"kind": self.kind, "params": params}, sort_keys=True, default=str)
            job_id = hashlib.sha256(canonical.encode()).hexdigest()[:16]
            out.append({"id": job_id, "kind": self.kind, "run": self.job.run, "params": params, "point": point})
        return out


    def check(self) -> None:
        """Validate every job's parameters before any job runs: one :class:`ConfigError` naming the
        bad key or value and the swept values of the first job that has it."""
        if self.job.check is None:
            return
        check = load(self.job.check)
        for job in self.jobs():
            try:
                check(dict(job["params"]))
            except ConfigError as exc:
                point = ", ".join(f"{k}={v!r}" for k, v in job["point"].items())
                raise ConfigError(f"sweep spec: {exc}" + (f" (job {point})" if point else "")) from None


def _resolve_paths(params: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """Relative file parameters (netlist, conductances, ...) are relative to the spec file."""
    for key in ("netlist", "conductances", "inputs", "pulses", "data"):
        if isinstance(params.get(key), str) and not os.path.isabs(params[key]):
            params[key] = str((base_dir / params[key]).resolve())
    if isinstance(params.get("allow_include"), list):  # folders a spice job's netlist may include from
        params["allow_include"] = [str((base_dir / os.path.expanduser(str(d))).resolve())
                                   for d in params["allow_include"]]
    return params


@dataclass
class SweepReport:
    total: int
    ran: int
    skipped: int
    failed: int
    rows: list[dict[str, Any]]
    table_csv: Path
    table_json: Path


def run_sweep(spec: SweepSpec, out_dir: str | Path, executor: Executor, *, progress: bool = True) -> SweepReport:
    """Run every unfinished job of ``spec`` on ``executor`` and write the results table."""
    spec.check()
    out = Path(out_dir)
    (out / "jobs").mkdir(parents=True, exist_ok=True)
    jobs = spec.jobs()
    write_atomic(out / "spec.json", json.dumps({"kind": spec.kind, "base": spec.base, "axes": spec.axes,
                                                 "mode": spec.mode, "timeout": spec.timeout}, indent=2, default=str))
    todo = []
    for job in jobs:
        outcome_path = out / "jobs" / job["id"] / "outcome.json"
        if outcome_path.is_file():
            try:
                if json.loads(outcome_path.read_text()).get("status") == "ok":
                    continue
            except json.JSONDecodeError:
                pass  # a damaged outcome is re-run
        (out / "jobs" / job["id"]).mkdir(parents=True, exist_ok=True)
        write_atomic(out / "jobs" / job["id"] / "job.json", json.dumps(job, indent=2, default=str))
        # the job's files (a training run and its checkpoints) live in its own folder, so that a
        # job that timed out or failed resumes there when the sweep runs again
        todo.append({**job, "workdir": str((out / "jobs" / job["id"]).resolve())})
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc=f"sweep {spec.name}", unit="job", file=__import__("sys").stderr)
    failed = 0
    for job, outcome in executor.run(todo, spec.timeout):
        outcome["point"] = job["point"]
        write_atomic(out / "jobs" / job["id"] / "outcome.json", json.dumps(outcome, indent=2, default=str))
        failed += outcome.get("status") != "ok"
        if bar is not None:
            bar.update(1)
            if outcome.get("status") != "ok":
                bar.write(f"job {job['id']} {job['point']}: {outcome.get('status')}: {outcome.get('error')}")
    if bar is not None:
        bar.close()
    rows = gather(out, jobs)
    return SweepReport(total=len(jobs), ran=len(todo), skipped=len(jobs) - len(todo), failed=failed,
                       rows=rows, table_csv=out / "results.csv", table_json=out / "results.json")


def gather(out: Path, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per job (swept values, status, metrics), written as results.csv and results.json."""
    rows: list[dict[str, Any]] = []
    metric_names: list[str] = []
    for job in jobs:
        path = out / "jobs" / job["id"] / "outcome.json"
        outcome = json.loads(path.read_text()) if path.is_file() else {"status": "missing"}
        row = {"id": job["id"], **job["point"], "status": outcome.get("status"),
               "error": outcome.get("error", ""), "seconds": outcome.get("seconds")}
        for key, value in (outcome.get("metrics") or {}).items():
            if key in row:   # a metric that repeats a swept value or a fixed column: one column
                continue
            if isinstance(value, (int, float, str, bool)) or value is None:
                row[key] = value
                if key not in metric_names:
                    metric_names.append(key)
        rows.append(row)
    axis_names = list(jobs[0]["point"]) if jobs else []
    columns = ["id", *axis_names, "status", *metric_names, "seconds", "error"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(out / "results.csv", buffer.getvalue())
    write_atomic(out / "results.json", json.dumps({"columns": columns, "rows": rows}, indent=2, default=str))
    return rows
