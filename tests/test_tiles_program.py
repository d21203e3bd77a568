"""Programming tiles of memristor cells: V/2 and V/3 half-select, spice vs hybrid vs numeric.

The device is the small threshold model in ``tests/data/doubles/threshold_device.py``
(independent of the device library, with a closed-form pulse response).
"""

from __future__ import annotations

import numpy as np
import pytest
from threshold_device import ThresholdDevice

from memcircuit.circuits import CrossbarSpec
from memcircuit.circuits.netlists import Cells, crossbar_circuit, read_analysis, read_circuit
from memcircuit.errors import ConfigError
from memcircuit.spice import run
from memcircuit.tiles import PulseProgram, PulseStep, half_select_program, make_tile
from memcircuit.tiles.programming import count_pulses, segments

ROWS, COLS = 4, 5
SELECTED = [(1, 3, 1.4, 2e-6), (2, 0, -1.4, 1e-6)]


@pytest.fixture
def device():
    return ThresholdDevice()


@pytest.fixture
def x0():
    return np.random.default_rng(7).uniform(0.2, 0.8, (ROWS, COLS))


def program_at(fidelity, device, x0, scheme="V/2", r_wire=5.0, **kw):
    with make_tile(fidelity, ROWS, COLS, device=device, states=x0, r_wire=r_wire, **kw) as tile:
        report = tile.program(half_select_program(ROWS, COLS, SELECTED, scheme))
        return tile.states() - x0, report


@pytest.mark.ngspice
def test_v2_programming_spice_matches_hybrid(device, x0):
    d_spice, rep_spice = program_at("spice", device, x0)
    d_hybrid, rep_hybrid = program_at("hybrid", device, x0, substeps=20)
    selected = np.zeros((ROWS, COLS), dtype=bool)
    for r, c, _, _ in SELECTED:
        selected[r, c] = True
    half = np.zeros_like(selected)
    for r, c, _, _ in SELECTED:
        half[r, :] = half[:, c] = True
    half &= ~selected
    # the selected cells move a lot, in the pulse's direction
    assert d_spice[1, 3] > 0.2 and d_spice[2, 0] < -0.2
    # half-selected cells (v/2 is below threshold) move far less
    assert np.max(np.abs(d_spice[half])) < 0.01 * np.min(np.abs(d_spice[selected]))
    # and the two fidelities agree on every cell
    np.testing.assert_allclose(d_hybrid[selected], d_spice[selected], rtol=5e-3)
    np.testing.assert_allclose(d_hybrid, d_spice, atol=2e-3 * np.max(np.abs(d_spice)))
    # programming energy from simulated currents vs the twin's solved currents
    assert rep_hybrid.energy_j == pytest.approx(rep_spice.energy_j, rel=0.02)
    assert rep_spice.pulses == rep_hybrid.pulses == 4
    np.testing.assert_allclose(rep_spice.g_after, device.conductance(x0 + d_spice, 0.1))


@pytest.mark.ngspice
def test_numeric_programming_equals_hybrid(device, x0):
    d_numeric, rep_n = program_at("numeric", device, x0, substeps=3)
    d_hybrid, rep_h = program_at("hybrid", device, x0, substeps=3)
    np.testing.assert_allclose(d_numeric, d_hybrid, rtol=1e-6, atol=1e-9)
    assert rep_n.energy_j == pytest.approx(rep_h.energy_j, rel=1e-6)


def test_v3_scheme_and_ideal_limit(device, x0):
    d_v3, _ = program_at("numeric", device, x0, scheme="V/3", r_wire=0.0)
    d_ideal, _ = program_at("ideal", device, x0, scheme="V/3")
    np.testing.assert_allclose(d_v3, d_ideal, rtol=1e-9, atol=1e-12)
    # closed form for the selected cell: it sees the full 1.4 V for 2 us
    expected = device.apply_pulse(x0[1, 3], 1.4, 2e-6) - x0[1, 3]
    assert d_ideal[1, 3] == pytest.approx(expected, rel=1e-9)
    # wire resistance lowers the selected cell's voltage and so its change
    d_wired, _ = program_at("numeric", device, x0, scheme="V/3", r_wire=200.0)
    assert 0 < d_wired[1, 3] < d_ideal[1, 3]


def test_device_reads_numeric_vs_ideal(device, x0):
    v = np.random.default_rng(3).uniform(-0.2, 0.2, (4, ROWS))
    g = device.conductance(x0, 0.1)
    ideal = make_tile("ideal", ROWS, COLS, device=device, states=x0)
    np.testing.assert_allclose(ideal.read(v), v @ g, rtol=1e-12)
    numeric = make_tile("numeric", ROWS, COLS, device=device, states=x0)
    np.testing.assert_allclose(numeric.read(v), v @ g, rtol=1e-9)


@pytest.mark.ngspice
def test_frozen_device_read_in_ngspice(device, x0):
    spec = CrossbarSpec(ROWS, COLS, r_wire=3.0)
    v = np.random.default_rng(4).uniform(-0.2, 0.2, (3, ROWS))
    cells = Cells(device=device, states=x0)
    result = run(read_circuit(spec, cells, v, base=crossbar_circuit(spec, cells)), read_analysis(3))
    spice = np.stack([result[f"i(vsense{j})"] for j in range(COLS)], axis=1)
    numeric = make_tile("numeric", ROWS, COLS, device=device, states=x0, r_wire=3.0).read(v)
    np.testing.assert_allclose(numeric, spice, rtol=1e-6)


def test_set_conductances_inverts_the_device(device):
    g = np.random.default_rng(5).uniform(2e-6, 9e-5, (ROWS, COLS))
    tile = make_tile("numeric", ROWS, COLS, device=device, g=g)
    np.testing.assert_allclose(tile.conductances(), g, rtol=1e-9)
    with pytest.raises(ConfigError):
        tile.set_conductances(np.full((ROWS, COLS), 1.0))


def test_segments_and_pulse_count():
    step = PulseStep(np.array([1.0, 0.0, 0.5]), np.array([-0.5, 0.2]), np.array([2e-6, 1e-6, 1e-6]),
                     np.array([1e-6, 3e-6]))
    segs = segments(step)
    assert [round(d * 1e6, 9) for d, _, _ in segs] == [1.0, 1.0, 1.0]
    np.testing.assert_allclose(segs[0][1], [1.0, 0.0, 0.5])
    np.testing.assert_allclose(segs[1][1], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(segs[2][1], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(segs[2][2], [0.0, 0.2])
    assert count_pulses(PulseProgram((step,))) == 4


def test_programming_rejects_wrong_sizes(device, x0):
    tile = make_tile("numeric", ROWS, COLS, device=device, states=x0)
    with pytest.raises(ConfigError):
        tile.program(half_select_program(ROWS + 1, COLS, [(0, 0, 1.0, 1e-6)]))


def test_parasitic_free_bias_skips_the_solve_and_equals_the_nodal_solution(device, x0):
    rng = np.random.default_rng(3)
    row_v, col_v = rng.uniform(-1, 1, ROWS), rng.uniform(-1, 1, COLS)
    with make_tile("numeric", ROWS, COLS, device=device, states=x0, r_wire=0.0) as tile:
        assert tile.parasitic_free
        v_direct, p_direct, lost = tile.direct_bias(row_v, col_v)
        assert lost == 0.0                                    # no driver resistance
        sol = tile.solver.network("bias").solve(np.concatenate([row_v, col_v])[None, :])
        p_nodal = float(np.sum(np.concatenate([row_v, col_v]) * sol.external_currents()))
        np.testing.assert_allclose(v_direct, sol.cell_voltages()[0], rtol=1e-9, atol=1e-12)
        assert p_direct == pytest.approx(p_nodal, rel=1e-6)
    with make_tile("numeric", ROWS, COLS, device=device, states=x0, r_wire=1.0) as tile:
        assert not tile.parasitic_free


@pytest.mark.ngspice
def test_hybrid_follows_a_program_in_one_sweep_as_with_an_operating_point_per_interval(monkeypatch):
    """Per interval, hybrid feeds each interval's drive and states into one followed DC sweep; the
    states and energy equal those of an ngspice operating point per interval (linear cells: both
    are the exact solution of the same circuit)."""
    from memcircuit.devices import get_device
    from memcircuit.tiles.parts import TileSolver
    from memcircuit.tiles.spice import SpiceSolver

    device = get_device("exp-pulse")
    rng = np.random.default_rng(3)
    x0 = rng.uniform(0.2, 0.8, (ROWS, COLS))
    steps = [PulseStep(np.where(rng.random(ROWS) < 0.6, 1.0, 0.0), np.r_[-1.0, np.zeros(COLS - 1)],
                       rng.integers(1, 5, ROWS) * 20e-9, np.full(COLS, 80e-9)) for _ in range(3)]
    program = PulseProgram(tuple(steps))
    runs = []
    for follow in (True, False):
        if not follow:
            monkeypatch.setattr(SpiceSolver, "bias_each", TileSolver.bias_each)
        with make_tile("hybrid", ROWS, COLS, device=device, states=x0, r_wire=2.0, substeps=2) as tile:
            report = tile.program(program)
            runs.append((tile.states(), report.energy_j))
    (x_sweep, e_sweep), (x_ops, e_ops) = runs
    assert np.max(np.abs(x_sweep - x0)) > 1e-3  # the program moved the cells
    np.testing.assert_allclose(x_sweep, x_ops, rtol=1e-9, atol=1e-12)
    assert e_sweep == pytest.approx(e_ops, rel=1e-9)
