"""The periphery options: one set of names and defaults on every command, in training
configurations and sweep specs, and a clear error where a fidelity cannot model one."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from memcircuit.circuits.spec import PERIPHERY_FIELDS, OpAmpParams, Periphery, TiaParams
from memcircuit.cli import cli
from memcircuit.errors import ConfigError
from memcircuit.tiles import make_tile
from memcircuit.train.jobs import train_config
from memcircuit.train.loop import TrainConfig

COMMANDS = [("tile", "read"), ("tile", "program"), ("build", "crossbar"), ("train",), ("infer",)]


def _command(path):
    cmd = cli
    for name in path:
        cmd = cmd.commands[name]
    return cmd


def test_every_command_takes_the_same_periphery_options_and_defaults():
    default = Periphery()
    for path in COMMANDS:
        params = {p.name: p for p in _command(path).params}
        for name in PERIPHERY_FIELDS:
            assert name in params, (path, name)
            assert params[name].opts == [f"--{name.replace('_', '-')}"], (path, name)
            assert params[name].default == getattr(default, name), (path, name)


def test_sweep_specs_and_saved_configs_take_the_flat_names():
    cfg = train_config({"sense": "tia", "opamp_gain": "1k", "opamp_swing": "0.5", "adc_bits": "6", "input_bits": 4})
    assert cfg.periphery == Periphery(sense="tia", opamp_gain=1e3, opamp_swing=0.5, adc_bits=6, input_bits=4)
    again = TrainConfig.from_json(json.loads(json.dumps(cfg.to_json())))
    assert again == cfg
    tiles = cfg.periphery.tile_kwargs()
    assert tiles["tia"].opamp.gain == 1e3 and tiles["tia"].opamp.v_high == 0.5 and tiles["adc"].bits == 6


@pytest.mark.parametrize("options, fidelity, message", [
    ({"sense": "tia"}, "ideal", "ideal fidelity cannot model sense (--sense)"),
    ({"r_out": 100.0}, "ideal", "r_out (--r-out)"),
    ({"sense": "tia", "tia_opamp": "transistor"}, "numeric", "spice or hybrid"),
])
def test_a_fidelity_that_cannot_model_an_option_says_so(options, fidelity, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TrainConfig(fidelity=fidelity, periphery=options)


def test_tia_options_without_a_tia_are_refused():
    with pytest.raises(ConfigError, match="opamp_gain: TIA options without a TIA"):
        Periphery(opamp_gain=100.0)
    with pytest.raises(ConfigError, match="unknown training option.*opamp_gian"):
        train_config({"opamp_gian": 3})


@pytest.fixture
def arrays(tmp_path):
    rng = np.random.default_rng(7)
    g = rng.uniform(1e-5, 1e-4, (6, 4))
    v = rng.uniform(-0.3, 0.3, (5, 6))
    np.save(tmp_path / "G.npy", g)
    np.save(tmp_path / "V.npy", v)
    return tmp_path, g, v


def _read(tmp, *extra):
    result = CliRunner().invoke(cli, ["tile", "read", "--rows", "6", "--cols", "4", "--conductances",
                                      str(tmp / "G.npy"), "--inputs", str(tmp / "V.npy"), "--json", "-", *extra])
    return result


def test_cli_error_is_one_line_exit_2(arrays):
    tmp, *_ = arrays
    result = _read(tmp, "--fidelity", "ideal", "--sense", "tia")
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "ideal fidelity cannot model sense (--sense)" in result.output


def test_output_swing_and_finite_gain_against_the_analytic_tia(arrays):
    """Numeric TIA reads against the op-amp formulas: the current reported is -V_out/R_f with
    V_out = -A/(1 + A + R_f G_col) R_f I (finite gain, Sedra and Smith sec. 2.2) clipped at the swing."""
    tmp, g, v = arrays
    exact = v @ g
    gain, r_f = 50.0, 2e3
    data = json.loads(_read(tmp, "--sense", "tia", "--opamp-gain", gain, "--r-f", r_f).output)
    g_col = g.sum(axis=0)
    expected = exact * gain / (1 + gain + r_f * g_col)
    np.testing.assert_allclose(data["currents"], expected, rtol=1e-3)
    swing = 0.02        # V: well below the largest R_f |I| (about 0.1 V)
    result = _read(tmp, "--sense", "tia", "--r-f", r_f, "--opamp-swing", swing)
    assert "TIA outputs sit at their output swing" in result.stderr     # the JSON stays on stdout
    data = json.loads(result.stdout)
    currents = np.array(data["currents"])
    assert np.max(np.abs(currents)) <= swing / r_f * 1.001
    assert np.max(np.abs(currents)) >= swing / r_f * 0.95    # the rail is reached
    small = np.abs(exact) * r_f < 0.5 * swing
    np.testing.assert_allclose(currents[small], exact[small], rtol=1e-2)


def test_input_dac_bits_round_the_inputs(arrays):
    tmp, g, v = arrays
    data = json.loads(_read(tmp, "--input-bits", "3", "--fidelity", "ideal").output)
    full = np.max(np.abs(v))
    lsb = 2 * full / 7
    vq = -full + lsb * np.round((v + full) / lsb)
    np.testing.assert_allclose(data["currents"], vq @ g, rtol=1e-12)
    assert data["input_bits"] == 3


def test_tile_sweep_jobs_take_the_periphery_names(tmp_path):
    from memcircuit.tiles.jobs import check_job, tile_job

    low = tile_job({"sense": "tia", "opamp_gain": "100", "rows": 4, "cols": 3}, tmp_path)
    high = tile_job({"sense": "tia", "opamp_gain": "100k", "rows": 4, "cols": 3}, tmp_path)
    assert low["max_rel_error"] > 100 * high["max_rel_error"]
    with pytest.raises(ConfigError, match="ideal fidelity cannot model"):
        check_job({"fidelity": "ideal", "sense": "tia"})


def _trained(fidelity: str, **periphery) -> tuple[float, float]:
    """(final test accuracy, final training loss) of a small iris run with this periphery."""
    import tempfile

    from memcircuit.train.loop import Trainer

    cfg = TrainConfig(dataset="iris", layers=(4, 3), device_options={"a_ltp": 5.0, "a_ltd": 5.0}, epochs=3, batch=8,
                      lr=0.3, optimizer="momentum", fidelity=fidelity, max_train=48, max_test=30,
                      periphery=periphery)
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(cfg, out)
        try:
            summary = trainer.run()
        finally:
            trainer.close()
    return summary["final_test_acc"], summary["epochs"][-1]["loss"]


def test_finite_opamp_gain_lowers_trained_accuracy():
    """A TIA of open-loop gain 1 reports about half of each column current, unevenly
    (1/(1 + (1 + R_f G_col)/A)): the same run learns worse than with gain 1e5."""
    good = _trained("numeric", sense="tia")
    poor = _trained("numeric", sense="tia", opamp_gain=1.0)
    assert poor[1] > 1.2 * good[1] and poor[0] <= good[0]


@pytest.mark.ngspice
def test_opamp_output_swing_lowers_trained_accuracy():
    """Outputs clipped at +-20 mV (the unclipped outputs of this run reach past it) lose the large currents
    that carry the decision: the same run at spice learns worse than with +-1 V."""
    good = _trained("spice", sense="tia")
    poor = _trained("spice", sense="tia", opamp_swing=0.02)
    assert poor[1] > 1.2 * good[1] and poor[0] < good[0]


@pytest.mark.ngspice
def test_hard_saturating_tia_converges_and_equals_spice():
    """A TIA whose output swing (+-50 mV) is far below what the cells ask for: its input current
    is steep in a band of ~1 uV and flat beyond, where full Newton steps used to jump across the
    band and back for ever. Damped Newton converges to ngspice's solution."""
    tia = TiaParams(opamp=OpAmpParams(v_low=-0.05, v_high=0.05))
    rng = np.random.default_rng(0)
    cases = [(rng.uniform(1e-6, 1e-4, (5, 16)), rng.uniform(-0.1, 0.1, (8, 5)), rng.uniform(-0.1, 0.1, (8, 16)))
             for _ in range(19)]
    g, v, e = cases[-1]                   # the case whose reads cycled
    out = {}
    for fidelity in ("numeric", "spice"):
        with make_tile(fidelity, 5, 16, g=g, sense="tia", tia=tia) as tile:
            out[fidelity] = (tile.read(v), tile.read_t(e))
    for numeric, spice in zip(out["numeric"], out["spice"]):
        assert np.max(np.abs(spice)) == pytest.approx(0.05 / tia.r_f, rel=0.05)   # saturated lines
        np.testing.assert_allclose(numeric, spice, rtol=1e-5, atol=1e-6 * np.max(np.abs(spice)))


def test_tile_read_warns_when_tia_outputs_sit_at_their_swing(tmp_path):
    """A TIA at its output swing reports the rail, not the current: the read says so on stderr."""
    np.save(tmp_path / "g.npy", np.full((4, 3), 1e-4))
    for volts, warned in ((20.0, True), (0.01, False)):
        np.save(tmp_path / "v.npy", np.full((3, 4), volts))
        result = CliRunner().invoke(cli, ["tile", "read", "--rows", "4", "--cols", "3", "--sense", "tia",
                                          "--conductances", str(tmp_path / "g.npy"), "--inputs",
                                          str(tmp_path / "v.npy")])
        assert result.exit_code == 0, result.output
        assert ("TIA outputs sit at their output swing" in result.output) is warned


def test_train_at_ideal_says_which_wire_options_it_ignores(tmp_path):
    result = CliRunner().invoke(cli, ["train", "--dataset", "iris", "--layers", "4,3", "--fidelity", "ideal",
                                      "--r-wire-row", "2", "--epochs", "1", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "ideal fidelity is G^T V with ideal wires; it ignores --r-wire-row" in result.stderr


def test_train_says_that_workers_need_an_ngspice_fidelity(tmp_path):
    args = ["--dataset", "iris", "--layers", "4,3", "--fidelity", "numeric", "--epochs", "1"]
    result = CliRunner().invoke(cli, ["train", *args, "--workers", "2", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "the numeric fidelity solves in this process and ignores it" in result.stderr
    quiet = CliRunner().invoke(cli, ["train", *args, "--out", str(tmp_path / "run1")])
    assert quiet.exit_code == 0, quiet.output
    assert "--workers" not in quiet.stderr


def test_train_takes_the_1t1r_cell(tmp_path):
    """--cell 1T1R puts the access transistor in every cell of the training tiles: recorded in the
    run's config, and the reads (so the training) differ from 1R cells."""
    import json

    args = ["--dataset", "iris", "--layers", "4,3", "--fidelity", "numeric", "--r-wire", "1", "--epochs", "1"]
    runs = {}
    for cell in ("1R", "1T1R"):
        result = CliRunner().invoke(cli, ["train", *args, "--cell", cell, "--out", str(tmp_path / cell)])
        assert result.exit_code == 0, result.output
        runs[cell] = json.loads((tmp_path / cell / "metrics.json").read_text())
    config = json.loads((tmp_path / "1T1R" / "config.json").read_text())
    assert config["tile_options"] == {"cell": "1T1R"}
    assert runs["1R"]["epochs"][0]["energy_j"] != runs["1T1R"]["epochs"][0]["energy_j"]
