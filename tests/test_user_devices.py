"""Bring your own device: a Verilog-A file as a device at spice, its characterized twin elsewhere."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from memcircuit.cli import cli
from memcircuit.devices import get_device, save_device
from memcircuit.devices.base import MODELS_DIR
from memcircuit.devices.tabulated import characterize, pulse_trajectory
from memcircuit.errors import ConfigError, ModelCompileError
from memcircuit.tiles import PulseProgram, half_select_program, make_tile

VA = Path(__file__).parent / "data" / "va"
FOREIGN = VA / "foreign_memristor.va"   # parameters Ron/Roff, node wn, start parameter w_start


@pytest.fixture(scope="module")
def foreign_twin(tmp_path_factory):
    twin = characterize(get_device(str(FOREIGN)))
    path = tmp_path_factory.mktemp("twin") / "foreign.json"
    save_device(twin, path, source="test")
    return twin, path


def test_foreign_names_are_discovered_and_conductance_is_measured():
    dev = get_device(str(FOREIGN), Roff="40k")
    assert (dev.module, dev.state_node, dev.state_param) == ("foreign_rram", "wn", "w_start")
    # R = Ron * (Roff/Ron)^(1 - w): the analytic chord conductance at the ends and the middle
    g = dev.conductance(np.array([0.0, 0.5, 1.0]), 0.1)
    np.testing.assert_allclose(g, [1 / 40e3, 1 / (2e3 * 20 ** 0.5), 1 / 2e3], rtol=1e-6)


@pytest.mark.parametrize(("path", "options", "fragment"), [
    (FOREIGN, {"Rof": "1k"}, "no parameter 'Rof'"),
    (FOREIGN, {"state_node": "q"}, "no state node 'q'; it has wn"),
    (VA / "model_param_state.va", {}, "is a model parameter"),
    (MODELS_DIR / "vteam.va", {}, "choose one with --device-param module=NAME"),
    (VA / "direct_state.va", {}, "the parameter does not set the state; write the state as x = x0 + V(st)"),
])
def test_contract_errors_name_the_fix(path, options, fragment):
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        get_device(str(path), **options)


def test_unsupported_model_fails_before_any_simulation():
    with pytest.raises(ModelCompileError, match="hand_integration.va:9: error: .*integration by hand"):
        get_device(str(VA / "hand_integration.va"))
    with pytest.raises(ModelCompileError, match="exactly two"):
        get_device(str(VA / "three_terminals.va"))


@pytest.mark.parametrize("fidelity", ["numeric", "ideal", "hybrid"])
def test_va_device_without_twin_points_to_characterize(fidelity):
    with pytest.raises(ConfigError, match="models characterize"):
        make_tile(fidelity, 2, 2, device=str(FOREIGN))


@pytest.mark.parametrize(("va", "family"), [("exp_pulse.va", "exp-pulse"), ("yakopcic.va", "yakopcic")])
def test_builtin_families_characterized_from_their_verilog_a(va, family):
    """The twin follows ngspice within 1 % of the conductance range at every one of 100 set and
    100 reset pulses, and the hand-written twin of the family within 1 % too."""
    twin = characterize(get_device(str(MODELS_DIR / va)))
    acc = twin.info["accuracy"]
    assert acc["max_error_of_range"] < 0.01
    lo, _ = twin.info["state_range"]
    hand = pulse_trajectory(get_device(family), "numeric", lo, tuple(acc["amplitudes_v"]), acc["width_s"], 100, 0.1)
    g_spice = np.asarray(acc["conductance_spice_s"])
    assert np.ptp(g_spice) > 0.5 * np.ptp(twin.va_device().conductance(np.array(twin.info["state_range"]), 0.1))
    assert np.max(np.abs(np.asarray(acc["conductance_twin_s"]) - hand)) < 0.01 * np.ptp(g_spice)


def _foreign_reference(x0: float, amps, width: float, n: int) -> np.ndarray:
    """Conductance after each pulse of the foreign model's equations, written here again and
    integrated by scipy's LSODA at rtol 1e-10: the reference independent of ngspice and the twin."""
    from scipy.integrate import solve_ivp

    from memcircuit.devices.analysis import pulse_train_wave

    first, reads1, stop1 = pulse_train_wave(n, amps[0], width)
    second, reads2, stop = pulse_train_wave(n, amps[1], width, start=stop1 + width)
    pts = np.array(first + tuple(p for p in second[1:] if p[0] > stop1))

    def rate(t, w):
        v = np.interp(t, pts[:, 0], pts[:, 1])
        r_set = 4e5 * 0.03 * np.logaddexp(0, (v - 0.8) / 0.03)
        r_reset = 3e5 * 0.03 * np.logaddexp(0, (-0.7 - v) / 0.03)
        return r_set * np.tanh((1 - w) / 0.004) - r_reset * np.tanh(w / 0.004)

    sol = solve_ivp(rate, (0, stop), [x0], method="LSODA", rtol=1e-10, atol=1e-12, t_eval=np.r_[reads1, reads2],
                    max_step=width / 20)
    x = np.r_[x0, sol.y[0]]
    return 1 / (2e3 * np.exp(np.log(20) * (1 - x)))


def test_foreign_twin_accuracy_and_file(foreign_twin):
    """ngspice (the compiled model) and the twin both follow an independent integration of the
    model's equations within 0.2 % of the conductance range over 100 set and 100 reset pulses."""
    twin, path = foreign_twin
    acc = twin.info["accuracy"]
    assert acc["max_error_of_range"] < 0.01
    reference = _foreign_reference(twin.info["state_range"][0], acc["amplitudes_v"], acc["width_s"], 100)
    g_range = 1 / 2e3 - 1 / 40e3
    assert np.ptp(reference) > 0.5 * g_range
    for key in ("conductance_spice_s", "conductance_twin_s"):
        assert np.max(np.abs(np.asarray(acc[key]) - reference)) < 2e-3 * g_range, key
    lo, hi = twin.info["state_range"]
    assert lo < 0.01 and hi > 0.99
    th_neg, th_pos = twin.info["threshold_v"]
    assert 0.5 < th_pos < 0.8 and -0.7 < th_neg < -0.4   # Vset 0.8, Vreset -0.7 with a 30 mV softplus
    loaded = get_device(str(path))
    np.testing.assert_allclose(loaded.current(np.array([0.3, -0.2]), np.array([0.2, 0.7])),
                               twin.current(np.array([0.3, -0.2]), np.array([0.2, 0.7])))
    with pytest.raises(ConfigError, match="no parameter overrides"):
        get_device(str(path), Ron=1e3)


def test_tile_program_spice_va_matches_twin(foreign_twin):
    """A V/2 program on a 2 x 3 tile: the compiled model at spice (.va and twin.json alike) and
    the twin at numeric land within 1 % of the range; half-selected cells barely move."""
    twin, path = foreign_twin
    prog = half_select_program(2, 3, [(0, 1, 1.4, 1e-6), (1, 2, -1.3, 1e-6)])
    g0 = np.full((2, 3), 1e-4)
    after = {}
    for key, device, fidelity in (("va", str(FOREIGN), "spice"), ("twin-spice", str(path), "spice"),
                                  ("numeric", str(path), "numeric"), ("hybrid", str(path), "hybrid"),
                                  ("ideal", str(path), "ideal")):
        tile = make_tile(fidelity, 2, 3, device=device, g=g0)
        after[key] = tile.program(prog).g_after
    g_range = 1 / 2e3 - 1 / 40e3
    assert abs(after["va"][0, 1] - 1e-4) > 0.1 * g_range and abs(after["va"][1, 2] - 1e-4) > 0.01 * g_range
    # same compiled model; the twin states its start and end conductances from its own table
    np.testing.assert_allclose(after["twin-spice"], after["va"], atol=1e-3 * g_range)
    np.testing.assert_allclose(after["numeric"], after["va"], atol=0.01 * g_range)
    # without wires every fidelity sees the driver voltages: hybrid's ngspice bias points (the
    # twin's I-V table) and ideal's give numeric's cell voltages
    np.testing.assert_allclose(after["hybrid"], after["numeric"], atol=1e-6 * g_range)
    np.testing.assert_allclose(after["ideal"], after["numeric"], atol=1e-9 * g_range)


def test_spice_read_of_va_device_matches_measured_conductance():
    tile = make_tile("spice", 2, 2, device=str(FOREIGN), states=np.array([[0.1, 0.4], [0.7, 0.95]]))
    v = np.array([[0.1, -0.05], [0.02, 0.08]])
    np.testing.assert_allclose(tile.read(v), v @ tile.conductances(), rtol=2e-3)


@pytest.mark.parametrize("fidelity", ["spice", "numeric"])
def test_train_one_epoch_with_the_twin(foreign_twin, tmp_path, fidelity):
    _, path = foreign_twin
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", "--dataset", "iris", "--layers", "4,3", "--fidelity", fidelity,
                                      "--device", str(path), "--epochs", "1", "--batch", "16", "--out", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["complete"] is True
    assert metrics["pulses_total"] > 0 and metrics["final_test_acc"] > 0.4


def test_characterize_cli_and_models_list(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMCIRCUIT_DEVICES", str(tmp_path / "devices"))
    runner = CliRunner()
    result = runner.invoke(cli, ["models", "characterize", str(FOREIGN), "--pulses", "20", "--json",
                                 str(tmp_path / "report.json"), "--plot", str(tmp_path / "acc.png")],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "of the conductance range at every pulse" in result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert len(report["accuracy"]["conductance_spice_s"]) == 41 and report["accuracy"]["max_error_of_range"] < 0.01
    assert (tmp_path / "acc.png").stat().st_size > 10_000
    assert (tmp_path / "devices" / "foreign_memristor.json").is_file()
    listing = runner.invoke(cli, ["models", "list"], catch_exceptions=False).output
    assert "foreign_memristor.json (tabulated)" in listing
    bad = runner.invoke(cli, ["models", "characterize", str(VA / "absdelay.va")])
    assert bad.exit_code == 2 and "absdelay" in bad.output


def test_tile_program_cli_takes_module_parameters_and_state_names(tmp_path):
    """--device PATH.va with --device-param and --state-node through `tile program` at spice gives
    what the same device does through the Python API; a wrong node name is one error line."""
    np.save(tmp_path / "G.npy", np.full((2, 2), 1e-4))
    (tmp_path / "p.json").write_text(json.dumps({"steps": [{"rows": [1.4, 0], "cols": [0, 0],
                                                           "row_widths": 1e-6, "col_widths": 1e-6}]}))
    args = ["tile", "program", "--rows", "2", "--cols", "2", "--device", str(FOREIGN), "--conductances",
            str(tmp_path / "G.npy"), "--pulses", str(tmp_path / "p.json"), "--fidelity", "spice"]
    runner = CliRunner()
    result = runner.invoke(cli, [*args, "--device-param", "Roff=20k", "--state-node", "wn", "--json", "-"],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    g_cli = np.array(json.loads(result.output)["g_after"])
    tile = make_tile("spice", 2, 2, device=get_device(str(FOREIGN), Roff="20k"), g=np.full((2, 2), 1e-4))
    program = PulseProgram.from_json(json.loads((tmp_path / "p.json").read_text()))
    expected = tile.program(program).g_after
    assert g_cli[0, 0] > 1.5e-4 and g_cli[1, 0] == pytest.approx(1e-4, rel=1e-6)
    np.testing.assert_allclose(g_cli, expected, rtol=1e-9)
    bad = runner.invoke(cli, [*args, "--state-node", "q"])
    assert bad.exit_code == 2 and "no state node 'q'; it has wn" in bad.output


def test_start_values_stay_inside_the_declared_parameter_range():
    """ngspice refuses (and then crashes on) a start value outside `from [0:1]`; a state a hair
    beyond a bound, as a transient leaves it, is started on the bound."""
    from memcircuit.devices.vamodel import parameter_bounds

    assert parameter_bounds("parameter real x0 = 0.5 from (0:inf);", "x0") == (1e-9, np.inf)
    assert parameter_bounds("parameter real k = 2, x0 = 0.5 from [0:1);", "x0") == (0.0, 1 - 1e-9)
    assert parameter_bounds("parameter real x0 = 0.5;", "x0") == (-np.inf, np.inf)
    dev = get_device(str(FOREIGN))   # w_start from [0:1]
    assert dict(dev.instance("N1", "a", "0", 1.0000128).params)["w_start"] == 1.0
    tile = make_tile("spice", 1, 1, device=dev, states=np.array([[1.0000128]]))
    prog = half_select_program(1, 1, [(0, 0, -1.2, 1e-8)])
    assert tile.program(prog).g_after[0, 0] < 1 / 2e3


def test_models_iv_pulses_and_build_take_a_va_file(tmp_path):
    """The single-device commands and the netlist builder run the compiled module."""
    runner = CliRunner()
    iv = runner.invoke(cli, ["models", "iv", str(FOREIGN), "--amp", "1.3", "--freq", "100k", "--cycles", "1",
                             "--json", str(tmp_path / "iv.json")], catch_exceptions=False)
    assert iv.exit_code == 0, iv.output
    data = json.loads((tmp_path / "iv.json").read_text())
    assert data["form"] == "va" and max(data["x"]) > 0.6   # the set lobe grows the state from 0.5
    pulses = runner.invoke(cli, ["models", "pulses", str(FOREIGN), "--n", "10", "--amp", "1.2", "--width", "100n",
                                 "--json", str(tmp_path / "pulses.json")], catch_exceptions=False)
    assert pulses.exit_code == 0, pulses.output
    g = json.loads((tmp_path / "pulses.json").read_text())["conductance"]
    assert g[0] == pytest.approx(1 / 40e3, rel=1e-6) and all(b > a for a, b in zip(g, g[1:]))
    out = tmp_path / "xbar.cir"
    built = runner.invoke(cli, ["build", "crossbar", "--rows", "2", "--cols", "2", "--device", str(FOREIGN),
                                "--form", "osdi", "--device-param", "Ron=1k", "-o", str(out)], catch_exceptions=False)
    assert built.exit_code == 0, built.output
    text = out.read_text()
    assert "NXd1_1 r1 c1 foreign_rram_va w_start=" in text and ".model foreign_rram_va foreign_rram (Ron=1k)" in text


def test_sweep_trains_with_the_twin(foreign_twin, tmp_path):
    """A train sweep takes the twin like any device file."""
    from memcircuit.cli.sweep import JOB_KINDS
    from memcircuit.parallel import SweepSpec, make_executor, run_sweep

    _, path = foreign_twin
    spec = SweepSpec.from_dict({"kind": "train", "base": {"dataset": "iris", "layers": [4, 3], "epochs": 1,
                                                          "batch": 16, "fidelity": "numeric", "device": str(path)},
                                "axes": {"seed": [0, 1]}, "timeout": 300}, kinds=JOB_KINDS)
    with make_executor("local", workers=1) as ex:
        result = run_sweep(spec, tmp_path / "sweep", ex, progress=False)
    assert result.failed == 0, [r.get("error") for r in result.rows]
    assert all(r["pulses"] > 0 for r in result.rows)


def test_train_with_a_raw_verilog_a_file_characterizes_its_twin_once(tmp_path, monkeypatch):
    """`train --device model.va`: training's pulse calibration needs a numeric twin, so the model
    is characterized once (kept in the user device folder, keyed by its SHA-256 and options) and
    the next run loads it."""
    monkeypatch.setenv("MEMCIRCUIT_DEVICES", str(tmp_path / "devices"))
    args = ["train", "--dataset", "iris", "--layers", "4,3", "--fidelity", "numeric", "--device", str(FOREIGN),
            "--epochs", "1", "--batch", "16"]
    for k in range(2):
        result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / f"run{k}")], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        twins = list((tmp_path / "devices" / "auto").glob("*.json"))
        assert len(twins) == 1                         # built by the first run, reused by the second
        metrics = json.loads((tmp_path / f"run{k}" / "metrics.json").read_text())
        assert metrics["complete"] is True and metrics["pulses_total"] > 0
    first, second = (json.loads((tmp_path / f"run{k}" / "metrics.json").read_text()) for k in range(2))
    assert first["final_test_acc"] == second["final_test_acc"]   # the same twin, the same numbers
