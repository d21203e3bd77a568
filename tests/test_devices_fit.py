"""Measured pulse-response data as a device: CSV in, fitted exp-pulse device (and plot) out."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from memcircuit.cli import cli
from memcircuit.devices import get_device, load_device, save_device
from memcircuit.devices.exp_pulse import ExpPulse
from memcircuit.devices.fit import fit_pulse_csv
from memcircuit.errors import ConfigError

TRUE = {"g_min": 2e-6, "g_max": 20e-6, "n_ltp": 100, "n_ltd": 100, "a_ltp": 0.3, "a_ltd": 0.8}


def sweeps(sigma: float, cycles: int, seed: int = 1, **changes) -> list[tuple[int, str, int, float]]:
    """(cycle, branch, pulse, conductance S) of cycles of 100 LTP then 100 LTD standard pulses of
    an exp-pulse device with cycle-to-cycle noise ``sigma``, readings after every pulse."""
    device = get_device("exp-pulse", **{**TRUE, **changes}, sigma_c2c=sigma)
    rng = np.random.default_rng(seed)
    x, rows = 0.0, []
    for cycle in range(1, cycles + 1):
        for polarity, branch in ((1, "LTP"), (-1, "LTD")):
            train = device.pulse_train(x, 100, polarity, rng)
            x = float(train[-1])
            rows += [(cycle, branch, k, g) for k, g in enumerate(device.conductance(train)[1:], start=1)]
    return rows


def write(path, header: str, lines: list[str]):
    path.write_text(header + "\n" + "\n".join(lines) + "\n")
    return path


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_noisy_cycles_recover_the_device_and_its_noise(tmp_path):
    csv = write(tmp_path / "d.csv", "Cycle,Phase,Pulse,G (uS)",
                [f"{c},{b},{k},{g * 1e6:.5f}" for c, b, k, g in sweeps(0.01, 5)])
    fit = fit_pulse_csv(csv)
    p, q = fit.params, fit.quality
    assert isinstance(fit.device, ExpPulse) and fit.device.params.a_ltp == p["a_ltp"]
    assert (p["n_ltp"], p["n_ltd"]) == (100, 100)
    assert p["g_min"] == pytest.approx(2e-6, rel=0.05) and p["g_max"] == pytest.approx(20e-6, rel=0.02)
    assert p["a_ltp"] == pytest.approx(0.3, rel=0.1) and p["a_ltd"] == pytest.approx(0.8, rel=0.25)
    assert p["sigma_c2c"] == pytest.approx(0.01, rel=0.15)
    assert q["cycles"] == 5 and q["sweeps"] == {"ltp": 5, "ltd": 5} and q["points"] == 1000
    assert q["r2_ltp"] > 0.95 and q["r2_ltd"] > 0.95 and 0.01 < q["rmse_rel"] < 0.1
    assert 0.01 < q["cycle_spread_rel"] < 0.1 and q["note"] == ""


def test_noisy_sweeps_without_phase_column_are_split_at_equal_lengths(tmp_path):
    # one pulse counter through 3 cycles, no phase: a noisy flat top must not move the turns
    rows = sweeps(0.01, 3, seed=3)
    fit = fit_pulse_csv(write(tmp_path / "d.csv", "pulse,G", [f"{k},{g}" for k, (*_, g) in enumerate(rows, 1)]))
    found = [(s.branch, s.g.size, s.pulse[0], s.pulse[-1]) for s in fit.data.sweeps]
    assert found == [("ltp", 100, 1, 100), ("ltd", 100, 1, 100)] * 3
    assert fit.params["a_ltp"] == pytest.approx(0.3, rel=0.1)
    assert fit.params["sigma_c2c"] == pytest.approx(0.01, rel=0.2)


def test_noise_free_data_give_the_parameters_exactly_whatever_the_layout(tmp_path):
    rows = sweeps(0.0, 3, a_ltp=0.2)
    restarted, before = [], 2e-6
    for k in range(0, len(rows), 100):
        kind = "set" if rows[k][1] == "LTP" else "reset"
        restarted += [f"0,{kind},{before:.9e}"] + [f"{n},{kind},{g:.9e}" for _, _, n, g in rows[k:k + 100]]
        before = rows[k + 99][3]
    layouts = {
        # one pulse counter through all the sweeps, no phase: the branches come from the trend
        "counter.csv": ("pulse;conductance", [f"{k};{g:.9e}" for k, (_, _, _, g) in enumerate(rows, start=1)]),
        # the sign of the pulse voltage marks the branch; resistance in kohm; tab separated
        "voltage.tsv.csv": ("Voltage (V)\tR [kOhm]", [f"{1.5 if b == 'LTP' else -1.5}\t{1e-3 / g:.9e}"
                                                     for _, b, _, g in rows]),
        # pulse numbers that start again with each sweep, from 0 (the reading before the first)
        "restart.csv": ("# exported by the analyser\nPulse Number,Type,Conductance (S)", restarted),
    }
    for name, (header, lines) in layouts.items():
        fit = fit_pulse_csv(write(tmp_path / name, header, lines))
        p = fit.params
        assert [s.branch for s in fit.data.sweeps] == ["ltp", "ltd"] * 3, name
        assert p["a_ltp"] == pytest.approx(0.2, rel=1e-3) and p["a_ltd"] == pytest.approx(0.8, rel=1e-3), name
        assert p["g_min"] == pytest.approx(2e-6, rel=1e-4) and p["g_max"] == pytest.approx(20e-6, rel=1e-4), name
        assert p["sigma_c2c"] < 1e-4 and fit.quality["r2_ltp"] > 0.9999, name


def test_header_spellings_and_units(tmp_path):
    rows = sweeps(0.0, 1)
    csv = write(tmp_path / "d.csv", "Pulse #;Polarity;G_uS", [f"{k};{'+' if b == 'LTP' else '-'};{g * 1e6:.9f}"
                                                              for _, b, k, g in rows])
    fit = fit_pulse_csv(csv)
    assert fit.data.columns == {"pulse": "Pulse #", "phase": "Polarity", "conductance": "G_uS"}
    assert fit.params["g_max"] == pytest.approx(20e-6, rel=1e-4)
    with pytest.raises(ConfigError, match="a_ltp: fitted from the data"):
        fit_pulse_csv(csv, a_ltp=0.5)


def test_one_cycle_is_fitted_and_says_so(tmp_path):
    csv = write(tmp_path / "one.csv", "phase,G", [f"{b},{g}" for _, b, _, g in sweeps(0.0, 1)])
    fit = fit_pulse_csv(csv)
    assert fit.quality["cycles"] == 1 and "one sweep" in fit.quality["note"]
    assert fit.quality["cycle_spread_rel"] is None


def test_device_file_round_trip(tmp_path):
    fit = fit_pulse_csv(write(tmp_path / "d.csv", "phase,G", [f"{b},{g}" for _, b, _, g in sweeps(0.005, 2)]),
                        v_pulse="3.2", t_pulse="300u")
    path = save_device(fit.device, tmp_path / "dev.json", source="test", extra={"fit": fit.quality})
    loaded = get_device(str(path))
    assert loaded.params == fit.device.params and loaded.params.t_pulse == pytest.approx(300e-6)
    assert load_device(path, a_ltp=0.9).params.a_ltp == 0.9
    assert json.loads(path.read_text())["fit"]["cycles"] == 2
    odd = save_device(fit.device, tmp_path / "odd.json", extra={"a": np.array([1.0, np.nan]), "b": np.int64(3)})
    assert json.loads(odd.read_text())["a"] == [1.0, None] and get_device(str(odd)).params == fit.device.params
    (tmp_path / "bad.json").write_text('{"family": "exp-pulse"}')
    with pytest.raises(ConfigError, match="not a memcircuit device file"):
        get_device(str(tmp_path / "bad.json"))
    with pytest.raises(ConfigError, match="not found"):
        get_device(str(tmp_path / "none.json"))


def test_cli_writes_device_plot_and_json(tmp_path):
    csv = write(tmp_path / "d.csv", "cycle,direction,n,G [uS]",
                [f"{c},{'up' if b == 'LTP' else 'down'},{k},{g * 1e6}" for c, b, k, g in sweeps(0.01, 3)])
    dev, png = tmp_path / "dev.json", tmp_path / "fit.png"
    out = invoke("models", "fit", str(csv), "-o", str(dev), "--plot", str(png), "--json", "-",
                 "--param", "v_pulse=2")
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["family"] == "exp-pulse" and len(data["sweeps"]) == 6
    assert data["quality"]["r2_ltp"] > 0.9 and data["columns"]["phase"] == "direction"
    assert png.stat().st_size > 10_000 and get_device(str(dev)).params.v_pulse == 2.0
    assert "RMSE" in out.stderr and "R^2 LTP" in out.stderr


@pytest.mark.parametrize(("text", "message"), [
    ("pulse,current\n1,2\n", "no conductance column"),
    ("pulse,G\n1,2e-6\n2,abc\n", ":3: 'abc' in column 'G' is not a number"),
    ("phase,G\nLTP,2e-6\nLTP,-1e-6\n", ":3: conductance must be > 0"),
    ("phase,G\nLTP,2e-6\nsideways,3e-6\n", ":3: 'sideways' in column 'phase' is neither potentiation"),
    ("phase,G\nLTP,2e-6\nLTP,3e-6\nLTP,4e-6\nLTP,5e-6\n", "0 depression reading(s)"),
    ("phase,G (furlongs)\nLTP,2\n", "unknown conductance unit 'furlongs'"),
    ("G\n", "needs a header row and data rows"),
    ("G,G (uS)\n1,2\n", "two conductance columns"),
    ("phase,G\nLTP,2\nLTP,2\nLTP,2\nLTD,3\nLTD,2\nLTD,1\n", "the LTP readings do not change"),
])
def test_malformed_csv_is_one_line_and_exit_code_2(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        fit_pulse_csv(path)
    assert message in str(err.value) and "\n" not in str(err.value)
    out = invoke("models", "fit", str(path))
    assert out.exit_code == 2
    assert out.stderr.strip().splitlines() == [f"error: {err.value}"]


def test_missing_file_is_one_line():
    out = invoke("models", "fit", "no/such.csv")
    assert out.exit_code == 2 and out.stderr.strip() == "error: pulse data: file not found: no/such.csv"
