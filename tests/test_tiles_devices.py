"""Tiles of the device library's memristors (memcircuit.devices): every family in the numeric
solver and in ngspice, per-cell variation and stuck cells, V/2 programming, the learning-rate cell."""

from __future__ import annotations

import numpy as np
import pytest

from memcircuit.circuits.lrcell import LearningRateCell, LrCellParams
from memcircuit.devices import DEVICES, get_device, sample_devices
from memcircuit.tiles import half_select_program, make_tile

ROWS, COLS = 4, 3


def states(device, seed=0):
    u = np.random.default_rng(seed).uniform(0.2, 0.8, (ROWS, COLS))
    return device.x_min + u * (device.x_max - device.x_min)


@pytest.mark.ngspice
@pytest.mark.parametrize("family", sorted(DEVICES))
def test_every_family_reads_the_same_in_numeric_and_spice(family):
    device = get_device(family)
    x0 = states(device)
    v = np.random.default_rng(1).uniform(-0.2, 0.2, (3, ROWS))
    numeric = make_tile("numeric", ROWS, COLS, device=device, states=x0, r_wire=3.0)
    with make_tile("spice", ROWS, COLS, device=device, states=x0, r_wire=3.0) as spice:
        forward, backward = spice.read(v), spice.read_t(v[:, :COLS])
    np.testing.assert_allclose(numeric.read(v), forward, rtol=1e-6, atol=1e-9 * np.max(np.abs(forward)))
    np.testing.assert_allclose(numeric.read_t(v[:, :COLS]), backward, rtol=1e-6,
                               atol=1e-9 * np.max(np.abs(backward)))
    # the ideal limit of the numeric solver is the device current at the line voltage
    ideal = make_tile("numeric", ROWS, COLS, device=device, states=x0)
    expected = device.current(np.repeat(v[:, :, None], COLS, axis=2), np.broadcast_to(x0, (3, ROWS, COLS))).sum(1)
    np.testing.assert_allclose(ideal.read(v), expected, rtol=1e-9)


@pytest.mark.ngspice
def test_device_arrays_with_variation_and_stuck_cells():
    nominal = get_device("exp-pulse")
    cells = sample_devices(nominal, (ROWS, COLS), np.random.default_rng(4), spread=0.2, stuck_on=0.15)
    assert cells.stuck.any()
    x0 = np.full((ROWS, COLS), 0.5)
    v = np.random.default_rng(5).uniform(-0.2, 0.2, (3, ROWS))
    numeric = make_tile("numeric", ROWS, COLS, device=cells, states=x0, r_wire=2.0).read(v)
    with make_tile("spice", ROWS, COLS, device=cells, states=x0, r_wire=2.0) as tile:
        np.testing.assert_allclose(tile.read(v), numeric, rtol=1e-6)
    # the variation is real: the nominal device reads differently
    assert np.max(np.abs(make_tile("numeric", ROWS, COLS, device=nominal, states=x0, r_wire=2.0).read(v) - numeric)) \
        > 1e-3 * np.max(np.abs(numeric))
    # stuck cells ignore programming pulses; the others move
    tile = make_tile("numeric", ROWS, COLS, device=cells, states=x0)
    report = tile.program(half_select_program(ROWS, COLS, [(i, j, 1.2, 3e-7) for i in range(ROWS)
                                                          for j in range(COLS)]))
    moved = np.abs(report.g_after - report.g_before) > 1e-3 * report.g_before
    assert not np.any(moved & (cells.stuck != 0)) and np.all(moved[cells.stuck == 0])


@pytest.mark.ngspice
def test_v2_programming_exp_pulse_spice_vs_hybrid():
    device = get_device("exp-pulse")  # threshold 0.6 V: 1.2 V selects, 0.6 V half-selects at the knee
    x0 = states(device, seed=2)
    program = half_select_program(ROWS, COLS, [(1, 2, 1.2, 3e-7), (3, 0, -1.2, 3e-7)], "V/2")
    out = {}
    for fidelity, kw in (("spice", {}), ("hybrid", {"substeps": 10})):
        with make_tile(fidelity, ROWS, COLS, device=device, states=x0, r_wire=5.0, **kw) as tile:
            out[fidelity] = (tile.states(), tile.program(program), tile.states())
    d_spice = out["spice"][2] - x0
    d_hybrid = out["hybrid"][2] - x0
    assert d_spice[1, 2] > 0.02 and d_spice[3, 0] < -0.02
    others = np.delete(np.abs(d_spice).ravel(), [1 * COLS + 2, 3 * COLS + 0])
    assert np.max(others) < 0.1 * min(abs(d_spice[1, 2]), abs(d_spice[3, 0]))
    np.testing.assert_allclose(d_hybrid[[1, 3], [2, 0]], d_spice[[1, 3], [2, 0]], rtol=5e-3)
    assert out["hybrid"][1].energy_j == pytest.approx(out["spice"][1].energy_j, rel=1e-2)


@pytest.mark.osdi
def test_osdi_programming_matches_behavioural():
    device = get_device("exp-pulse")
    x0 = states(device, seed=3)
    program = half_select_program(ROWS, COLS, [(0, 1, 1.2, 3e-7)], "V/2")
    result = {}
    for form in ("behavioural", "osdi"):
        with make_tile("spice", ROWS, COLS, device=device, states=x0, r_wire=2.0, form=form) as tile:
            tile.program(program)
            result[form] = tile.states() - x0
    assert result["osdi"][0, 1] > 0.01
    np.testing.assert_allclose(result["osdi"], result["behavioural"], atol=2e-3 * result["behavioural"][0, 1])


def test_learning_rate_cell_with_the_library_lr_device():
    device = get_device("lr-cell")
    cell = LearningRateCell(device, x0=1.0, params=LrCellParams(r_f=2e4, v_adapt=-float(device.params.v_pulse),
                                                                 t_adapt=float(device.params.t_pulse)))
    gains = [cell.gain()]
    for _ in range(20):
        cell.adapt()
        gains.append(cell.gain())
    drops = -np.diff(gains)
    assert np.all(drops > 0)                   # the learning rate only falls under depressing pulses
    assert drops[0] > 3 * drops[-1]            # fast at first, then slow (paper 1)
    assert gains[-1] < 0.8 * gains[0]
