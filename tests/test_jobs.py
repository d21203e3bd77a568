"""The ``device`` and ``tile`` sweep job kinds: run isolated and through a sweep, real numbers."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from memcircuit.cli import cli
from memcircuit.cli.sweep import JOB_KINDS
from memcircuit.devices.jobs import device_job
from memcircuit.errors import ConfigError
from memcircuit.parallel import SweepSpec, make_executor, run_sweep
from memcircuit.parallel.jobs import run_isolated
from memcircuit.tiles.jobs import tile_job


def isolated(kind: str, params: dict) -> dict:
    outcome = run_isolated({"id": f"{kind}-test-job", "kind": kind, "run": JOB_KINDS[kind].run, "params": params},
                           timeout=120)
    assert outcome["status"] == "ok", outcome
    return outcome["metrics"]


@pytest.mark.ngspice
def test_device_pulses_job_matches_the_models_pulses_command():
    metrics = isolated("device", {"device": "exp-pulse", "device.a_ltp": 0.3, "mode": "pulses", "n": 12,
                                  "amp": 1.0, "width": "100n"})
    out = CliRunner().invoke(cli, ["models", "pulses", "exp-pulse", "--param", "a_ltp=0.3", "--n", "12", "--amp",
                                   "1", "--width", "100n", "--json", "-"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert metrics["g_final"] == pytest.approx(data["conductance"][-1], rel=1e-12)
    assert metrics["g_final_numeric"] == pytest.approx(data["conductance_numeric"][-1], rel=1e-12)
    assert metrics["g_initial"] == pytest.approx(2e-6) and metrics["g_max_reached"] == metrics["g_final"]
    assert metrics["g_final"] > 2 * metrics["g_initial"]   # LTP from G_min
    assert metrics["twin_rel_diff"] < 0.02


def test_device_iv_job_lobes_shrink_with_frequency():
    """Numeric form (no simulator): the pinched loop's lobes shrink as the frequency rises."""
    slow, fast = (device_job({"device": "strukov-2008", "mode": "iv", "form": "numeric", "freq": f, "points": 400},
                             None) for f in (1.0, 10.0))
    assert slow["lobe_area_pos"] > 3 * fast["lobe_area_pos"] > 0
    assert slow["lobe_area_neg"] > 3 * fast["lobe_area_neg"] > 0
    assert slow["x_min"] <= slow["x0"] < slow["x_max"]   # the state moves and comes back


@pytest.mark.ngspice
def test_tile_sweep_ideal_is_exact_and_wire_error_agrees_between_numeric_and_spice(tmp_path):
    spec = SweepSpec.from_dict({"kind": "tile", "base": {"rows": 6, "cols": 5, "r_wire": 2.0, "batch": 4, "seed": 3},
                                "axes": {"fidelity": ["ideal", "numeric", "spice"]}, "timeout": 120}, kinds=JOB_KINDS)
    with make_executor("local", workers=2) as ex:
        report = run_sweep(spec, tmp_path / "out", ex, progress=False)
    assert report.failed == 0, [r["error"] for r in report.rows]
    rows = {r["fidelity"]: r for r in report.rows}
    assert rows["ideal"]["max_rel_error"] == 0.0 and rows["ideal"]["max_rel_error_t"] == 0.0
    for key in ("max_rel_error", "max_rel_error_t"):
        assert rows["numeric"][key] > 1e-3   # 2 ohm segments on a 6 x 5 tile of 1e-6..1e-4 S
        assert rows["numeric"][key] == pytest.approx(rows["spice"][key], rel=1e-5)
    assert "seconds_read" in (tmp_path / "out" / "results.csv").read_text().splitlines()[0]


@pytest.mark.ngspice
def test_tile_job_isolated_with_a_device_and_variation():
    metrics = isolated("tile", {"fidelity": "hybrid", "rows": 4, "cols": 4, "r_wire": 1.0, "device": "exp-pulse",
                                "device.spread": 0.2, "batch": 3})
    assert 0 < metrics["max_rel_error"] < 0.01 and metrics["i_max"] > 0
    again = tile_job({"fidelity": "numeric", "rows": 4, "cols": 4, "r_wire": 1.0, "device": "exp-pulse",
                      "variation": 0.2, "batch": 3}, None)
    assert again["max_rel_error"] == pytest.approx(metrics["max_rel_error"], rel=1e-5)


@pytest.mark.parametrize("job, params, fragment", [
    (device_job, {"mode": "iv", "n": 3}, "unknown iv parameter"),
    (device_job, {"mode": "bode"}, "mode"),
    (device_job, {"device": "nope"}, "unknown device"),
    (device_job, {"device.spread": 0.1}, "tile jobs"),
    (device_job, {"mode": "pulses", "device": "vteam"}, "amp"),
    (tile_job, {"rows": 0}, "rows"),
    (tile_job, {"colums": 3}, "unknown tile job parameter"),
    (tile_job, {"variation": 0.1}, "device model"),
    (tile_job, {"fidelity": "numeric", "workers": 2}, "spice and hybrid"),
])
def test_bad_job_parameters_are_config_errors(job, params, fragment):
    with pytest.raises(ConfigError, match=fragment):
        job(params, None)
