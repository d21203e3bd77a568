"""Pulse encoders: requested conductance changes against what the device twin really does."""

from __future__ import annotations

import numpy as np
import pytest

from memcircuit.tiles import make_tile, resolve_device
from memcircuit.train.pulses import calibrate, encode_outer, encode_pwm, stochastic_units

DEVICE = "exp-pulse"


@pytest.fixture(scope="module")
def device():
    return resolve_device(DEVICE)


@pytest.fixture(scope="module")
def cal(device):
    return calibrate(device, levels=2000, max_units=10_000)


def _tile(device, shape):
    x_mid = 0.5 * (device.x_min + device.x_max)
    return make_tile("ideal", *shape, device=device, states=np.full(shape, x_mid), rng=np.random.default_rng(0))


def _limits(program, cal):
    for step in program.steps:
        for v in (step.rows, step.cols):
            assert np.all(np.abs(v) <= cal.v_prog / 2 * (1 + 1e-12))   # V/2: no line beyond half
        for w in (step.row_widths, step.col_widths):
            units = w / cal.t_unit
            np.testing.assert_allclose(units, np.round(units), atol=1e-9)   # whole driver time units
            assert np.all(units <= cal.max_units + 1e-9)


def test_calibration_is_consistent(device, cal):
    assert cal.rate_up > 0 and cal.rate_down > 0
    assert cal.half_select_ratio < 0.01      # half-selected cells barely move
    x = np.full(4, 0.5 * (device.x_min + device.x_max))
    g0 = device.conductance(x)
    g1 = device.conductance(device.apply_pulse(x, cal.polarity * cal.v_prog, cal.t_unit))
    assert np.mean(g1 - g0) == pytest.approx(cal.rate_up * cal.t_unit, rel=0.05)


def test_pwm_applies_per_device_changes(device, cal):
    rng = np.random.default_rng(1)
    tile = _tile(device, (6, 5))
    g0 = tile.conductances()
    span = g0.mean()
    dg = rng.normal(size=(6, 5)) * 0.01 * span
    dg[2, :] = 0.0                   # a row that must stay put (half-selected only)
    prog = encode_pwm(dg, cal, rng)
    _limits(prog, cal)
    got = tile.program(prog).g_after - g0
    assert np.corrcoef(got[dg != 0], dg[dg != 0])[0, 1] > 0.99
    np.testing.assert_allclose(got[dg != 0], dg[dg != 0], rtol=0.1, atol=0.02 * np.abs(dg).max())
    assert np.abs(got[2]).max() < 0.01 * np.abs(dg).max()


def test_outer_applies_rank_one_changes(device, cal):
    rng = np.random.default_rng(2)
    tile = _tile(device, (7, 4))
    g0 = tile.conductances()
    u = rng.normal(size=(2, 7))
    v = rng.normal(size=(2, 4)) * 0.02 * g0.mean()
    u[:, 3] = 0.0                   # row with no input: its cells must not move
    prog = encode_outer(u, v, cal, rng)
    assert len(prog.steps) <= 8     # at most four steps per outer product
    _limits(prog, cal)
    want = u.T @ v
    got = tile.program(prog).g_after - g0
    assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.98
    np.testing.assert_allclose(got, want, atol=0.1 * np.abs(want).max())
    assert np.abs(got[3]).max() < 0.01 * np.abs(want).max()


def test_stochastic_rounding_is_unbiased(cal):
    rng = np.random.default_rng(3)
    target = np.full(20_000, 0.3)
    units = stochastic_units(target, cal, rng)
    assert set(np.unique(units)) == {0.0, 1.0}
    assert units.mean() == pytest.approx(0.3, abs=4 * np.sqrt(0.21 / 20_000))
