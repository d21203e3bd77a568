"""Stochastic pulse-coincidence updates (paper 5, RPU style): probabilities, trains, V/2 programs
through real tiles, counted pulses and the expected weight change."""

from __future__ import annotations

import numpy as np
import pytest
from pulse_device_double import attach, linear_network

from memcircuit.errors import ConfigError
from memcircuit.tiles import make_tile
from memcircuit.train.optimizers.pulsed import cell_pulse_units
from memcircuit.train.optimizers.stochastic import (
    StochasticCoincidence,
    apply_coincidences,
    coincidence_probabilities,
    coincidence_trains,
    encode_coincidence,
)


def test_probabilities_are_unbiased_and_balanced():
    a = np.array([0.5, -1.0, 0.0, 2.0])
    b = np.array([0.01, -0.03, 0.02])
    step, bl = 0.01, 10   # largest demand 6 coincidences < BL
    p, q = coincidence_probabilities(a, b, step, bl)
    assert np.allclose(bl * np.outer(p, q), np.abs(np.outer(a, b)) / step, rtol=1e-12)
    assert p.max() == pytest.approx(q.max(), rel=1e-12)      # update management balances the sides
    # without update management (C_a = C_b) the large row side saturates and the update is lost
    p2, q2 = coincidence_probabilities(a, b, step, bl, update_management=False)
    assert p2.max() == 1.0 and q2.max() < 0.1
    assert np.all(bl * np.outer(p2, q2)[[1, 3]] < 0.5 * np.abs(np.outer(a, b))[[1, 3]] / step)
    # a demand above BL steps is truncated: probabilities are clipped at 1
    p3, q3 = coincidence_probabilities(a * 100, b * 100, step, bl)
    assert p3.max() == 1.0 and q3.max() == 1.0
    with pytest.raises(ConfigError):
        coincidence_probabilities(a, b, step, 0)


def test_mean_coincidences_match_the_outer_product():
    rng = np.random.default_rng(7)
    a = np.array([0.3, -0.8, 0.05])
    b = np.array([-0.02, 0.01])
    step, bl, trials = 0.002, 8, 4000
    counts = np.zeros((trials, 3, 2))
    for t in range(trials):
        A, B = coincidence_trains(a[None], b[None], step, bl, rng)
        counts[t] = A.T @ B                      # signed coincidences per cell
    mean, sem = counts.mean(axis=0), counts.std(axis=0) / np.sqrt(trials)
    expected = np.outer(a, b) / step
    assert np.all(np.abs(mean - expected) < 5 * sem + 1e-3), (mean, expected)


def test_coincidence_program_moves_exactly_the_coinciding_cells():
    """Through an ideal tile of linear-step devices: every coincidence is one unit pulse on that
    cell (sign by quadrant), half-selected cells stay put, and the counted pulses equal |A^T B|."""
    from pulse_device_double import LinearStepDevice

    from memcircuit.train.pulses import calibrate

    dev = LinearStepDevice()
    cal = calibrate(dev, v_read=0.1, levels=100)
    rng = np.random.default_rng(3)
    A = rng.integers(-1, 2, size=(12, 5))
    B = rng.integers(-1, 2, size=(12, 4))
    tile = make_tile("ideal", 5, 4, device=dev, states=np.full((5, 4), 0.5), v_read=0.1)
    program = encode_coincidence(A, B, cal)
    report = tile.program(program)
    units = (report.g_after - report.g_before) / (cal.rate_up * cal.t_unit)
    assert np.allclose(units, A.T @ B, atol=1e-9)
    assert np.allclose(cell_pulse_units(program, cal), np.abs(A).T @ np.abs(B), atol=1e-9)
    # four quadrant steps at most per slot
    assert len(program.steps) <= 4 * len(A)


def test_layer_update_equals_coincidence_count_times_weight_unit():
    net, cal = linear_network((4, 5, 3))
    opt = attach(StochasticCoincidence(0.3, bl=6), net, cal)
    layer = net.layers[1]
    a = np.random.default_rng(1).standard_normal((3, 6))
    b = 0.05 * np.random.default_rng(2).standard_normal((3, 3))
    w0 = layer.weights()
    apply_coincidences(opt, layer, a, b, 6, np.random.default_rng(9))
    A, B = coincidence_trains(a, b, opt.w_unit, 6, np.random.default_rng(9))
    assert np.allclose(layer.weights() - w0, opt.w_unit * (A.T @ B), atol=1e-9)
    m = opt.epoch_metrics()
    assert m["device_pulses"] == pytest.approx(2 * np.abs(A).T.__matmul__(np.abs(B)).sum())  # G+ and G-
    assert m["devices_moved"] > 0 and m["driver_pulses"] > 0


def test_expected_update_is_minus_lr_gradient():
    net, cal = linear_network((3, 4, 2))
    lr = 0.4
    opt = attach(StochasticCoincidence(lr, bl=10), net, cal)
    layer = net.layers[0]
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal((4, 3)), np.ones((4, 1))], axis=1)
    delta = 0.05 * rng.standard_normal((4, 4))
    g0 = [t.conductances() for t in layer.all_tiles()]
    w0 = layer.weights()
    trials, dws = 150, []
    prog_rng = np.random.default_rng(11)
    for _ in range(trials):
        upd = opt.layer_update(0, x, delta)
        opt.program(0, layer, upd, prog_rng)
        dws.append(layer.weights() - w0)
        for t, g in zip(layer.all_tiles(), g0):
            t.set_conductances(g)
    dws = np.array(dws)
    mean, sem = dws.mean(axis=0), dws.std(axis=0) / np.sqrt(trials)
    assert np.all(np.abs(mean - (-lr * x.T @ delta)) < 5 * sem + 1e-9)


def test_rejects_bad_bit_length():
    with pytest.raises(ConfigError):
        StochasticCoincidence(0.1, bl=0)


def test_cli_trains_with_stochastic_updates_and_reports_pulses(tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner
    from pulse_device_double import register

    from memcircuit.cli import cli

    device = register(monkeypatch)
    base = ["train", "--dataset", "iris", "--layers", "4,5,3", "--device", device, "--fidelity", "ideal",
            "--epochs", "2", "--batch", "10", "--levels", "50", "--max-train", "60", "--lr", "0.5"]
    res = CliRunner().invoke(cli, [*base, "--optimizer", "stochastic", "--opt", "bl=4", "--out", str(tmp_path / "a"),
                                   "--json", "-"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)["epochs"]
    assert all(r["device_pulses"] > 0 and r["driver_pulses"] == r["pulses"] for r in rows)
    assert json.loads(res.stdout)["optimizer"]["bl"] == 4
    bad = CliRunner().invoke(cli, [*base, "--optimizer", "stochastic", "--opt", "bl=0", "--out", str(tmp_path / "b")])
    assert bad.exit_code == 2 and "BL" in bad.output
    bad = CliRunner().invoke(cli, [*base, "--optimizer", "ssm", "--opt", "colour=red", "--out", str(tmp_path / "c")])
    assert bad.exit_code == 2 and "colour" in bad.output


def test_amplitude_coded_cells_count_standard_pulse_equivalents():
    """Full-amplitude unit pulses count 1 each; cells of the amplitude-coded outer-product encoder
    count the standard pulses their smaller over-drive is worth (device pulse_counts)."""
    from memcircuit.devices import get_device
    from memcircuit.train.pulses import calibrate, encode_outer

    dev = get_device("exp-pulse")
    cal = calibrate(dev, v_read=0.1)
    A = np.array([[1, 0, -1]])
    B = np.array([[1, 1]])
    prog = encode_coincidence(A, B, cal)
    for device in (None, dev):
        assert np.allclose(cell_pulse_units(prog, cal, device), np.abs(A).T @ np.abs(B))
    u = np.array([[1.0, 0.5, 0.1]]) * 1e-6
    v = np.array([[2.0, 1.0]])
    outer = encode_outer(u, v, cal, np.random.default_rng(0))
    timed, weighed = cell_pulse_units(outer, cal), cell_pulse_units(outer, cal, dev)
    assert np.allclose(weighed[0], timed[0], rtol=0.02)            # the largest row runs at full v_prog
    assert np.all(weighed[1:] < 0.8 * timed[1:]) and np.all(weighed[2] < weighed[1])


@pytest.mark.ngspice
def test_coincidence_and_unit_pulse_programs_in_ngspice_match_the_numeric_twin():
    """The programs of the pulse-level optimizers (coincidence slots, width-coded unit pulses)
    run as ngspice transients move the devices as the numeric fidelity predicts, and every
    coinciding cell moves by one discrete level."""
    from memcircuit.devices import get_device
    from memcircuit.train.optimizers.pulsed import encode_units
    from memcircuit.train.optimizers.ssm import SSM
    from memcircuit.train.pulses import calibrate

    dev = get_device("discrete")
    cal = calibrate(dev, v_read=0.1)
    x0 = np.full((3, 4), 15.0 / 31.0)                         # on level 15 of 0..31
    cal = SSM(0.1).unit_pulse(dev, cal)   # one level per unit
    A = np.array([[1, 0, -1], [0, 1, 1]])
    B = np.array([[1, -1, 0, 1], [1, 1, 0, -1]])
    units = np.array([[2, 0, -1, 0], [0, 1, 0, -2], [1, 0, 0, 0]])
    for program, levels in ((encode_coincidence(A, B, cal), A.T @ B),
                            (encode_units(units, cal, np.random.default_rng(0)), units)):
        moved = {}
        for fidelity in ("numeric", "spice"):
            tile = make_tile(fidelity, 3, 4, device=dev, states=x0)
            try:
                report = tile.program(program)
                moved[fidelity] = (tile.states() - x0) * 31.0
            finally:
                tile.close()
            assert report.pulses > 0
        # one level per coincidence / unit, up to the half-select disturb (softplus tail, < 0.01 level)
        np.testing.assert_allclose(moved["numeric"], levels, atol=0.01)
        np.testing.assert_allclose(moved["spice"], moved["numeric"], atol=0.02)
