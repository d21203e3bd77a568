"""Array-scale solver paths (issue 14) against independent references.

* CHOLMOD (nested dissection) and SuperLU factorisations of the same nodal matrices give the same
  solutions, and both equal badcrossbar (an independent, Qucs-validated nodal solver).
* Fixed-state reads through the effective conductance matrix equal the per-input solve, at
  ``numeric`` (nodal solver) and at ``spice`` (ngspice's own per-input sweep), exactly.
* Ohmic devices are linear cells; a cell state that changed since the last factorisation is
  solved by refinement with the stale factorisation, to the same answer as a fresh one.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_wire_resistance import _cases, _reference_backward, _reference_forward

from memcircuit.circuits import CrossbarSpec
from memcircuit.circuits.netlists import read_probes
from memcircuit.devices import get_device
from memcircuit.errors import ConfigError
from memcircuit.solvers import cholmod_available, factorize
from memcircuit.tiles import make_tile
from memcircuit.tiles.numeric import crossbar_network


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def test_cholmod_is_installed_and_used_for_symmetric_matrices():
    assert cholmod_available()  # scripts/setup.sh installs it; CI must not silently fall back
    rng = np.random.default_rng(1)
    spec = CrossbarSpec(12, 9, r_wire_row=2.0, r_wire_col=5.0)
    net = crossbar_network(spec, "forward", g=rng.uniform(1e-5, 1e-3, (12, 9)))
    assert net.symmetric
    a = net.y_uu
    b = rng.normal(size=(a.shape[0], 3))
    chol, lu = factorize(a, symmetric=True), factorize(a, symmetric=True, method="splu")
    assert (chol.method, lu.method) == ("cholmod", "splu")
    assert rel(chol.solve(b), lu.solve(b)) < 1e-12
    np.testing.assert_allclose(a @ chol.solve(b), b, rtol=0, atol=1e-9 * np.max(np.abs(b)))
    with pytest.raises(ConfigError, match="symmetric"):
        factorize(a, symmetric=False, method="cholmod")


@pytest.mark.parametrize("method", ["cholmod", "splu"])
def test_both_factorisations_equal_badcrossbar(method):
    g, v, e = _cases(np.random.default_rng(7), 10, 8, 4)
    for mode, drive, ref in (("forward", v, _reference_forward(g, v, 2.5, 0.7)),
                             ("backward", e, _reference_backward(g, e, 2.5, 0.7))):
        net_spec = CrossbarSpec(10, 8, r_wire_row=2.5, r_wire_col=0.7)
        net = crossbar_network(net_spec, mode, g=g, factor_method=method)
        out = net.solve(drive).values(read_probes(net_spec, mode).sensed)
        assert net.linear_factor().method == method
        np.testing.assert_allclose(out, ref, rtol=1e-9, atol=1e-15)


def test_fixed_state_reads_are_a_product_equal_to_the_solve():
    rows, cols = 14, 9
    g, v, e = _cases(np.random.default_rng(11), rows, cols, 40)
    with make_tile("numeric", rows, cols, g=g, r_wire_row=1.5, r_wire_col=4.0) as tile:
        first = tile.read(v[:3])            # fewer inputs than a product costs: solved
        assert tile.read_info["path"] == "solve"
        many = tile.read(v)                 # 43 inputs on this state >= min(rows, cols): product
        assert tile.read_info["path"] == "product"
        back = tile.read_t(e)
        assert tile.read_info["path"] == "product"
        w = tile.effective_matrix("forward")
    np.testing.assert_allclose(first, _reference_forward(g, v[:3], 1.5, 4.0), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(many, _reference_forward(g, v, 1.5, 4.0), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(back, _reference_backward(g, e, 1.5, 4.0), rtol=1e-9, atol=1e-15)
    assert w.shape == (cols, rows)
    assert np.max(np.abs(w - g.T)) > 1e-3 * np.max(g)   # IR drop is in W


def test_product_path_follows_the_cells_and_refuses_non_linear_circuits():
    rng = np.random.default_rng(5)
    dev = get_device("exp-pulse")
    x = rng.uniform(0, 1, (6, 5))
    with make_tile("numeric", 6, 5, device=dev, states=x, r_wire=3.0) as tile:
        v = rng.uniform(-0.1, 0.1, (12, 6))
        tile.read(v)
        assert tile.read_info["path"] == "product"     # an ohmic device is a linear cell
        g = dev.conductance(x)
        np.testing.assert_allclose(tile.read(v), _reference_forward(g, v, 3.0, 3.0), rtol=1e-9)
        x2 = np.clip(x + 0.05, 0, 1)
        tile.set_states(x2)                             # new cells: W is rebuilt, never stale
        np.testing.assert_allclose(tile.read(v), _reference_forward(dev.conductance(x2), v, 3.0, 3.0), rtol=1e-9)
    with make_tile("numeric", 6, 5, device="vteam", r_wire=3.0) as tile:
        tile.read(rng.uniform(-0.1, 0.1, (12, 6)))
        assert tile.read_info == {"path": "solve", "reason": "non-linear cells or periphery"}
    with make_tile("numeric", 6, 5, g=g, r_wire=3.0, sense="tia") as tile:
        tile.read(rng.uniform(-0.1, 0.1, (12, 6)))
        assert tile.read_info["path"] == "solve"
        with pytest.raises(ConfigError, match="ideal sensing"):
            tile.effective_matrix("forward")


def test_stale_factorisation_refinement_equals_a_fresh_solve():
    """A programming interval: the states moved a little; the old factorisation refines the
    solution to the same answer a new network gives."""
    rng = np.random.default_rng(2)
    dev = get_device("exp-pulse")
    spec = CrossbarSpec(16, 12, r_wire_row=2.0, r_wire_col=1.0)
    x = rng.uniform(0, 1, spec.shape)
    drive = np.r_[rng.uniform(-1, 1, 16), rng.uniform(-0.5, 0.5, 12)][None, :]
    net = crossbar_network(spec, "bias", device=dev, states=x)
    net.solve(drive)
    first = net.linear_factor()
    x2 = np.clip(x + rng.normal(0, 0.02, spec.shape), 0, 1)
    net.set_cells(device=dev, states=x2)
    refined = net.solve(drive)
    assert net._lin[1] is first and refined.iterations > 1    # no new factorisation
    fresh = crossbar_network(spec, "bias", device=dev, states=x2).solve(drive)
    assert rel(refined.cell_voltages(), fresh.cell_voltages()) < 1e-9
    assert rel(refined.external_currents(), fresh.external_currents()) < 1e-9


@pytest.mark.ngspice
def test_spice_large_batch_is_a_product_equal_to_the_per_input_sweep():
    rows, cols = 8, 6
    g, v, e = _cases(np.random.default_rng(9), rows, cols, 30)
    with make_tile("spice", rows, cols, g=g, r_wire_row=2.0, r_wire_col=6.0) as tile:
        swept = tile.solver.sweep(v, "forward")
        product = tile.read(v)              # 30 inputs > 8 driven rows: W from 8 sweep points
        assert tile.read_info["path"] == "product"
        back = tile.read_t(e)
        assert tile.read_info["path"] == "product"
        back_swept = tile.solver.sweep(e, "backward")
    assert rel(product, swept) < 1e-9
    assert rel(back, back_swept) < 1e-9
    np.testing.assert_allclose(product, _reference_forward(g, v, 2.0, 6.0), rtol=1e-7, atol=1e-13)


@pytest.mark.ngspice
def test_spice_keeps_one_sweep_point_per_input_for_non_linear_cells():
    with make_tile("spice", 4, 3, device="vteam", r_wire=2.0) as tile:
        v = np.random.default_rng(0).uniform(-0.1, 0.1, (9, 4))
        out = tile.read(v)
        assert tile.read_info["path"] == "sweep"
        with pytest.raises(ConfigError, match="linear"):
            tile.effective_matrix("forward")
    assert out.shape == (9, 3)


def test_program_bias_in_batched_solves_keeps_the_ir_drop_to_a_small_fraction():
    """bias_refresh="program" (cell voltages of every interval at the program's starting states)
    against "interval" (each interval at the states of its moment), 40 V/2 steps moving cells by
    up to ~12 % of their range: the difference is a small fraction of what the wires change."""
    from memcircuit.tiles import PulseProgram, PulseStep
    from memcircuit.train.pulses import calibrate

    dev = get_device("exp-pulse")
    cal = calibrate(dev, v_read=0.1)
    rng = np.random.default_rng(0)
    rows, cols = 32, 16
    x0 = rng.uniform(0.2, 0.8, (rows, cols))
    steps = []
    for k in range(40):
        sign = 1 if k % 2 == 0 else -1
        steps.append(PulseStep(np.where(rng.random(rows) < 0.5, sign * cal.v_prog / 2, 0.0),
                               np.where(rng.random(cols) < 0.5, -sign * cal.v_prog / 2, 0.0), cal.t_unit, cal.t_unit))
    program = PulseProgram(tuple(steps))
    moved = {}
    for name, kw in (("interval", {"r_wire": 2.0, "bias_refresh": "interval"}),
                     ("program", {"r_wire": 2.0, "bias_refresh": "program"}), ("no wires", {})):
        with make_tile("numeric", rows, cols, device=dev, states=x0, seed=0, **kw) as tile:
            report = tile.program(program)
        moved[name] = report.g_after - report.g_before
    span = float(dev.conductance(np.array(1.0)) - dev.conductance(np.array(0.0)))
    assert np.max(np.abs(moved["interval"])) > 0.05 * span          # the program moves the cells
    wires = rel(moved["no wires"], moved["interval"])
    lag = rel(moved["program"], moved["interval"])
    assert wires > 0.01                                               # the IR drop matters here
    assert lag < 0.05 * wires and lag < 2e-3                          # measured: 5.6e-4 vs 2.4e-2


@pytest.mark.parametrize("fidelity", ["numeric", pytest.param("spice", marks=pytest.mark.ngspice)])
def test_product_reads_book_the_same_read_energy_as_solved_reads(fidelity):
    """The product path also gives the driver currents (W_drive), so the energy ledger of a read
    does not depend on the path it took."""
    rows, cols = 7, 5
    g, v, _ = _cases(np.random.default_rng(4), rows, cols, 12)
    with make_tile(fidelity, rows, cols, g=g, r_wire_row=2.0, r_wire_col=3.0) as tile:
        tile.take_energy()
        solved = tile.read(v[:2]) if fidelity == "numeric" else tile.solver.sweep(v, "forward")
        if fidelity == "numeric":
            assert tile.read_info["path"] == "solve"
            sol = tile.solver.network("forward").solve(v[2:])
            solved = np.vstack([solved, sol.values(read_probes(tile.spec, "forward").sensed)])
            tile._add_read(v[2:], sol.external_currents())
        e_solved = tile.take_energy()["read"]
        tile.set_conductances(g)        # a new state: nothing cached
        product = tile.read(v)
        assert tile.read_info["path"] == "product"
        e_product = tile.take_energy()["read"]
    assert rel(product, solved) < 1e-9
    for part in ("drivers", "array"):
        assert abs(e_product[part] - e_solved[part]) <= 1e-9 * max(abs(e_solved["array"]), 1e-30)
    assert e_product["array"] > 0


def test_infer_states_the_read_path_of_its_tiles():
    """infer's summary says how the tiles read: the product path for a linear circuit, the solve
    for a TIA."""
    from memcircuit.infer.run import InferConfig, infer
    from memcircuit.train.model import DenseModel

    rng = np.random.default_rng(0)
    model = DenseModel([rng.normal(0, 0.5, (6, 4)), rng.normal(0, 0.5, (4, 3))], [np.zeros(4), np.zeros(3)],
                       ["relu", "softmax"])
    x = rng.uniform(0, 1, (40, 6))
    linear, _ = infer(model, x, InferConfig(fidelity="numeric", r_wire=1.0))
    assert linear["read_paths"] == {"product": 2}   # one tile per layer (differential column pairs)
    tia, _ = infer(model, x, InferConfig(fidelity="numeric", r_wire=1.0, periphery={"sense": "tia"}))
    assert set(tia["read_paths"]) == {"solve"}


def test_supernodal_factor_converted_for_solves_equals_the_unconverted_one(monkeypatch):
    """Above SIMPLICIAL_MAX unknowns the supernodal factor is converted to a simplicial LDL^T
    before its solves; the thresholds are lowered here so that a small matrix takes that path."""
    from collections import OrderedDict

    from memcircuit.solvers import factor

    rng = np.random.default_rng(3)
    net = crossbar_network(CrossbarSpec(12, 9, r_wire=2.0), "forward", g=rng.uniform(1e-6, 1e-3, (12, 9)))
    a = net.y_uu
    b = np.asfortranarray(rng.normal(size=(a.shape[0], 5)))
    monkeypatch.setattr(factor, "SIMPLICIAL_MAX", 10)
    solved = {}
    for name, convert_max in (("converted", 10**9), ("supernodal", 0)):
        monkeypatch.setattr(factor, "_SYMBOLIC", OrderedDict())   # a fresh symbolic analysis
        monkeypatch.setattr(factor, "CONVERT_MAX", convert_max)
        f = factorize(a, symmetric=True, method="cholmod")
        assert f.handle.simplicial == (name == "converted")  # converted: the native kernels solve
        solved[name] = f.solve(b)
    reference = factorize(a, symmetric=True, method="splu").solve(b)
    assert rel(solved["converted"], solved["supernodal"]) < 1e-12
    assert rel(solved["converted"], reference) < 1e-12
    assert solved["converted"].flags.f_contiguous        # the solver's own layout
    assert solved["supernodal"].flags.f_contiguous


@pytest.mark.parametrize("kw", [{"r_wire_row": 2.0, "r_wire_col": 0.5},
                                {"r_wire_row": 0.0, "r_wire_col": 3.0},
                                {"r_wire": 1.0, "driver": {"r_out": 50.0}},
                                {"r_wire": 1.0, "cell": "1T1R"}])
@pytest.mark.parametrize("mode", ["forward", "backward", "bias"])
def test_terminal_couplings_equal_the_assembled_matrix(kw, mode):
    """Right-hand sides, terminal currents and cell voltages are computed from the few nodes next
    to a terminal; they equal the products with the whole assembled matrix."""
    from memcircuit.circuits.spec import DriverParams

    if "driver" in kw:
        kw = {**kw, "driver": DriverParams(**kw["driver"])}
    rng = np.random.default_rng(8)
    spec = CrossbarSpec(9, 7, **kw)
    net = crossbar_network(spec, mode, g=rng.uniform(1e-6, 1e-3, spec.shape))
    drive = rng.uniform(-1, 1, (4, net.topo.drive_terms.size))
    t = net._terminals(drive.T)
    x = rng.uniform(-1, 1, (net.topo.n, 4))
    assert rel(net._linear_currents(None, t), net.y_ut @ t) < 1e-12
    assert rel(net._linear_currents(x, t, "t"), net.y_tu @ x + net.y_tt @ t) < 1e-12
    if net.linear:
        sol = net.solve(drive)
        z, (top, bottom) = sol.z, net._cells.T
        assert rel(sol.cell_voltages(), (z[top] - z[bottom]).T.reshape((-1, *spec.shape))) < 1e-15


def test_program_bias_blocks_share_the_factorisation_of_the_program_start(monkeypatch):
    """bias_refresh="program": every block of a program's bias solves is at the program's starting
    states; splitting the intervals into blocks of 3 changes nothing and factorises once."""
    from memcircuit.tiles import PulseProgram, PulseStep, numeric
    from memcircuit.train.pulses import calibrate

    dev = get_device("exp-pulse")
    cal = calibrate(dev, v_read=0.1)
    rng = np.random.default_rng(6)
    rows, cols = 12, 8
    x0 = rng.uniform(0.2, 0.8, (rows, cols))
    half, unit = cal.v_prog / 2, cal.t_unit
    steps = [PulseStep(np.where(rng.random(rows) < 0.5, half, 0.0), np.where(rng.random(cols) < 0.5, -half, 0.0),
                       rng.integers(1, 4, rows) * unit, rng.integers(1, 4, cols) * unit) for _ in range(6)]
    program = PulseProgram(tuple(steps))
    after = {}
    for block in (10**6, 3):
        monkeypatch.setattr(numeric, "solve_block", lambda unknowns, block=block: block)
        made: list[int] = []
        with make_tile("numeric", rows, cols, device=dev, states=x0, seed=0, r_wire=2.0,
                       bias_refresh="program") as tile:
            pool = tile.solver._pool

            def counted(key, make, layout, pool_get=pool.get, made=made):
                return pool_get(key, lambda: made.append(1) or make(), layout)

            monkeypatch.setattr(pool, "get", counted)
            report = tile.program(program)
        assert len(made) == 1
        after[block] = report.g_after
    assert rel(after[3], after[10**6]) < 1e-12


def test_reads_and_programming_of_a_training_tile_share_one_factorisation_per_state(monkeypatch):
    """A tile that programs with batched bias solves factorises each state once: the forward read
    makes the factorisation, the backward read and the program's bias solves use it (the networks
    differ only in which lines are driven), and the reads equal badcrossbar."""
    from memcircuit.solvers import nodal
    from memcircuit.tiles import PulseProgram, PulseStep
    from memcircuit.train.pulses import calibrate

    made = []
    monkeypatch.setattr(nodal, "factorize", lambda *a, **k: made.append(1) or factorize(*a, **k))
    dev = get_device("exp-pulse")
    cal = calibrate(dev, v_read=0.1)
    rng = np.random.default_rng(12)
    rows, cols = 10, 6
    x0 = rng.uniform(0.2, 0.8, (rows, cols))
    v, e = rng.uniform(-0.1, 0.1, (2, rows)), rng.uniform(-0.1, 0.1, (2, cols))
    step = PulseStep(np.where(rng.random(rows) < 0.5, cal.v_prog / 2, 0.0), np.where(rng.random(cols) < 0.5,
                     -cal.v_prog / 2, 0.0), cal.t_unit, cal.t_unit)
    with make_tile("numeric", rows, cols, device=dev, states=x0, r_wire=1.5, bias_refresh="program") as tile:
        for _ in range(2):
            g = dev.conductance(tile.states())
            first = len(made)
            np.testing.assert_allclose(tile.read(v), _reference_forward(g, v, 1.5, 1.5), rtol=1e-9)
            assert tile.solver.network("forward")._last_iterations == 1   # solved, not refined
            np.testing.assert_allclose(tile.read_t(e), _reference_backward(g, e, 1.5, 1.5), rtol=1e-9)
            tile.program(PulseProgram((step,)))
            assert len(made) - first == 1
