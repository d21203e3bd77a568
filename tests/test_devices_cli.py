"""``memcircuit models list|iv|pulses`` and ``memcircuit plot iv`` as a user meets them."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from memcircuit.cli import cli
from memcircuit.devices import DEVICES, PRESETS, get_device


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def memcircuit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from memcircuit.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=300)


def test_list_json_has_every_family_with_units_and_defaults():
    out = invoke("models", "list", "--json", "-")
    assert out.exit_code == 0
    data = json.loads(out.output)
    assert [f["name"] for f in data["families"]] == list(DEVICES)
    assert {p["name"] for p in data["presets"]} == set(PRESETS)
    exp = next(f for f in data["families"] if f["name"] == "exp-pulse")
    g_max = next(p for p in exp["parameters"] if p["name"] == "g_max")
    assert g_max["unit"] == "S" and g_max["default"] == get_device("exp-pulse").params.g_max
    text = invoke("models", "list").output
    assert "strukov-2008" in text and "mu_v" in text


def test_iv_numeric_json_is_a_pinched_loop(tmp_path):
    target = tmp_path / "iv.json"
    out = invoke("models", "iv", "pershin", "--form", "numeric", "--cycles", "1", "--points", "400",
                 "--json", str(target), "--plot", str(tmp_path / "iv.png"))
    assert out.exit_code == 0, out.output
    data = json.loads(target.read_text())
    t, v, i, x = (np.array(data[k]) for k in ("time", "v", "i", "x"))
    assert t.size == v.size == i.size == x.size == 401
    assert data["amp"] == 3.0 and data["freq"] == 1e8 and data["x0"] == pytest.approx(2 / 3)
    assert np.all(np.abs(i[np.abs(v) < 1e-12]) < 1e-15)
    assert data["lobe_area_pos"] > 0 and np.ptp(x) > 0.3
    assert (tmp_path / "iv.png").stat().st_size > 10_000
    plotted = invoke("plot", "iv", str(target), "-o", str(tmp_path / "again.png"))
    assert plotted.exit_code == 0 and (tmp_path / "again.png").is_file()


@pytest.mark.ngspice
def test_pulses_in_ngspice_track_the_numeric_twin(tmp_path):
    target = tmp_path / "p.json"
    out = invoke("models", "pulses", "discrete", "--n", "12", "--amp", "1", "--width", "100n",
                 "--param", "n_levels=8", "--json", str(target))
    assert out.exit_code == 0, out.output
    data = json.loads(target.read_text())
    g, g_twin = np.array(data["conductance"]), np.array(data["conductance_numeric"])
    dev = get_device("discrete", n_levels=8.0)
    levels = dev.params.g_max * (1 / 15 + (1 - 1 / 15) * np.minimum(np.arange(13), 7) / 7)
    assert np.allclose(g, levels, atol=0.01 * np.ptp(levels))
    assert np.allclose(g_twin, levels, rtol=1e-9)


@pytest.mark.parametrize("args, message", [
    (("models", "iv", "memristorX"), "unknown device 'memristorX'; families: linear-drift"),
    (("models", "iv", "vteam", "--param", "r_of=3"), "no parameter 'r_of'; valid parameters: r_on, r_off"),
    (("models", "iv", "vteam", "--param", "r_off"), "NAME=VALUE"),
    (("models", "iv", "exp-pulse", "--param", "g_max=-1u", "--form", "numeric"), "g_max must exceed g_min"),
    (("models", "iv", "vteam", "--x0", "3", "--form", "numeric"), "--x0 must lie in [0.0, 1.0]"),
])
def test_bad_input_is_one_line_and_exit_code_2(args, message):
    proc = memcircuit(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
