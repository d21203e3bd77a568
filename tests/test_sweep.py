"""Sweeps: local pool and Dask give identical tables; failures are data; kill + resume loses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from memcircuit.cli.sweep import JOB_KINDS
from memcircuit.errors import ConfigError
from memcircuit.parallel import SweepSpec, make_executor, run_sweep

DATA = Path(__file__).parent / "data" / "sweep"


def divider_spec(tmp_path: Path) -> Path:
    spec = {"kind": "spice", "base": {"netlist": str(DATA / "divider.cir"), "analysis": "op", "measure": ["v(b)"]},
            "axes": {"params.r2": ["1k", "3k", "9k"], "params.r1": ["1k", "2k"]}, "timeout": 120}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def strip_timing(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


@pytest.mark.ngspice
def test_local_and_dask_give_identical_tables_matching_analytic(tmp_path):
    spec = SweepSpec.from_file(divider_spec(tmp_path), kinds=JOB_KINDS)
    with make_executor("local", workers=2) as ex:
        local = run_sweep(spec, tmp_path / "local", ex, progress=False)
    with make_executor("dask", workers=2) as ex:
        dask = run_sweep(spec, tmp_path / "dask", ex, progress=False)
    assert local.failed == dask.failed == 0
    assert strip_timing(local.rows) == strip_timing(dask.rows)
    for row in local.rows:
        r1 = {"1k": 1e3, "2k": 2e3}[row["params.r1"]]
        r2 = {"1k": 1e3, "3k": 3e3, "9k": 9e3}[row["params.r2"]]
        assert row["v(b)"] == pytest.approx(r2 / (r1 + r2), rel=1e-9)
    header = (tmp_path / "local" / "results.csv").read_text().splitlines()[0]
    assert header.startswith("id,params.r2,params.r1,status,v(b)")


@pytest.mark.ngspice
def test_failed_job_is_reported_not_fatal(tmp_path):
    spec = SweepSpec.from_dict({"kind": "spice", "base": {"analysis": "op", "measure": ["v(b)"]},
                                "axes": {"netlist": [str(DATA / "divider.cir"), str(tmp_path / "missing.cir")]}},
                               kinds=JOB_KINDS)
    with make_executor("local", workers=2) as ex:
        report = run_sweep(spec, tmp_path / "out", ex, progress=False)
    assert report.failed == 1
    statuses = {Path(r["netlist"]).name: r for r in report.rows}
    assert statuses["divider.cir"]["status"] == "ok"
    assert statuses["missing.cir"]["status"] == "error"
    assert "missing.cir" in statuses["missing.cir"]["error"]


def test_timeout_kills_job_and_reports_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", f"{DATA}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    spec = SweepSpec.from_dict({"kind": "slowjob:job", "base": {}, "axes": {"x": [1, 2], "sleep": [0, 30]},
                                "mode": "zip", "timeout": 3})
    with make_executor("local", workers=2) as ex:
        report = run_sweep(spec, tmp_path / "out", ex, progress=False)
    by_x = {r["x"]: r for r in report.rows}
    assert by_x[1]["status"] == "ok" and by_x[1]["y"] == 1.0
    assert by_x[2]["status"] == "timeout"


def test_killed_sweep_resumes_and_reruns_only_unfinished_jobs(tmp_path):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump({"kind": "slowjob:job", "base": {},
                                         "axes": {"x": [1, 2, 3], "sleep": [0, 0, 8]}, "mode": "zip",
                                         "timeout": 120}))
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=f"{DATA}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    cmd = [sys.executable, "-c", "from memcircuit.cli import main; main()", "sweep", str(spec_path),
           "--out", str(out), "--workers", "3", "--quiet"]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and len(list(out.glob("jobs/*/outcome.json"))) < 2:
        time.sleep(0.1)
    assert len(list(out.glob("jobs/*/outcome.json"))) == 2, "fast jobs did not finish"
    os.killpg(proc.pid, signal.SIGKILL)  # the whole sweep dies mid-way through the slow job
    proc.wait()
    assert not (out / "results.csv").exists()
    done_before = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("jobs/*/outcome.json")}
    again = subprocess.run(cmd + ["--json", "-"], env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert (summary["total"], summary["ran"], summary["skipped"]) == (3, 1, 2)
    assert sorted(r["y"] for r in summary["rows"]) == [1.0, 4.0, 9.0]
    for job_id, mtime in done_before.items():  # finished jobs were not run again
        assert (out / "jobs" / job_id / "outcome.json").stat().st_mtime_ns == mtime


@pytest.mark.parametrize("spec, fragment", [
    ({"kind": "nope", "axes": {}}, "kind"),
    ({"kind": ["train"], "axes": {}}, "kind"),
    ({"kind": "spice", "axes": {"seed": []}}, "non-empty"),
    ({"kind": "spice", "axes": {"a": [1, 2], "b": [1]}, "mode": "zip"}, "same length"),
    ({"kind": "spice", "axes": {}, "extra": 1}, "unknown"),
    ({"kind": "spice", "axes": {}, "timeout": -1}, "timeout"),
])
def test_bad_specs_are_clear_errors(spec, fragment):
    with pytest.raises(ConfigError, match=fragment):
        SweepSpec.from_dict(spec, kinds=JOB_KINDS)


@pytest.mark.ngspice
def test_cli_sweep_and_plot(tmp_path):
    from click.testing import CliRunner

    from memcircuit.cli import cli

    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["sweep", str(divider_spec(tmp_path)), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    png = tmp_path / "sweep.png"
    result = CliRunner().invoke(cli, ["plot", "sweep", str(out), "--x", "params.r1", "--y", "v(b)",
                                      "--hue", "params.r2", "-o", str(png)])
    assert result.exit_code == 0, result.output
    assert png.stat().st_size > 10_000
    bad = CliRunner().invoke(cli, ["plot", "sweep", str(out), "--x", "nope", "--y", "v(b)", "-o", str(png)])
    assert bad.exit_code == 2


def test_train_sweep_over_seeds_and_device_spread_local_equals_dask(tmp_path):
    """The spec example of the docs: seeds x device.spread of a training run. Both executors give
    the same table, the spread reaches the devices (it changes the result) and the job's own
    training time does not clash with the outcome's wall time."""
    spec = SweepSpec.from_dict({
        "kind": "train",
        "base": {"dataset": "iris", "layers": [4, 6, 3], "epochs": 2, "batch": 16, "fidelity": "ideal",
                 "optimizer": "momentum", "device.a_ltp": 2.0},
        "axes": {"seed": [0, 1], "device.spread": [0.0, 0.3]}, "timeout": 300}, kinds=JOB_KINDS)
    with make_executor("local", workers=2) as ex:
        local = run_sweep(spec, tmp_path / "local", ex, progress=False)
    with make_executor("dask", workers=2) as ex:
        dask = run_sweep(spec, tmp_path / "dask", ex, progress=False)
    assert local.failed == dask.failed == 0, [r.get("error") for r in local.rows]
    drop = ("seconds", "train_seconds")
    assert ([{k: v for k, v in r.items() if k not in drop} for r in local.rows]
            == [{k: v for k, v in r.items() if k not in drop} for r in dask.rows])
    by_point = {(r["seed"], r["device.spread"]): r for r in local.rows}
    for seed in (0, 1):
        assert by_point[(seed, 0.0)]["final_test_acc"] > 0.5
        assert by_point[(seed, 0.0)]["pulses"] != by_point[(seed, 0.3)]["pulses"]
    header = (tmp_path / "local" / "results.csv").read_text().splitlines()[0].split(",")
    assert header.count("seconds") == 1 and "train_seconds" in header


def test_train_sweep_rejects_unknown_dotted_names(tmp_path):
    from memcircuit.train.jobs import train_config

    assert train_config({"device.spread": 0.2, "device.a_ltp": 3.0, "opt.rho": 0.95}).variation == 0.2
    cfg = train_config({"device": {"name": "exp-pulse", "spread": 0.1, "a_ltd": 2.0}, "layers": "4,5,3"})
    assert (cfg.variation, cfg.device_options, cfg.layers) == (0.1, {"a_ltd": 2.0}, (4, 5, 3))
    with pytest.raises(ConfigError, match="dotted names"):
        train_config({"foo.bar": 1})


def test_invalid_yaml_is_located_not_quoted(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("kind: spice\nbase: {a: [1, 2}\nsecret: hunter2\n")
    with pytest.raises(ConfigError, match=r"not valid YAML \(.* at line 2, column 16\)") as info:
        SweepSpec.from_file(path, kinds=JOB_KINDS)
    assert "[1, 2}" not in str(info.value) and "hunter2" not in str(info.value)


def test_kind_names_come_from_the_table_the_caller_passes():
    """The runner below the layers that define job kinds knows none of them by name: a name maps to
    the function the caller's table gives, and every job carries that target."""
    spec = SweepSpec.from_dict({"kind": "spice", "axes": {"a": [1, 2]}}, kinds=JOB_KINDS)
    assert {job["run"] for job in spec.jobs()} == {"memcircuit.spice.jobs:spice_job"}
    with pytest.raises(ConfigError, match="unknown job kind 'spice'; give its package.module:function"):
        SweepSpec.from_dict({"kind": "spice", "axes": {"a": [1]}})
    own = SweepSpec.from_dict({"kind": "slowjob:job", "axes": {"x": [1]}})
    assert own.jobs()[0]["run"] == "slowjob:job" and own.job.check is None
