"""The circuit IR read by both back ends: element arrays, typed elements, probes, and the nodal
solver stamping what the generators build (and refusing, by name, what it cannot)."""

from __future__ import annotations

import numpy as np
import pytest

from memcircuit.circuits import Cells, CrossbarSpec
from memcircuit.circuits.netlists import mode_circuit, read_circuit, read_probes
from memcircuit.circuits.spec import TiaParams
from memcircuit.errors import ConfigError, NetlistError
from memcircuit.netlist import BehavioralSource, Circuit, Expr, External, Resistor, VoltageSource, write
from memcircuit.netlist.arrays import Bus, Pins, ResistorArray, element_count, lower
from memcircuit.netlist.probes import Current, StateNode, Voltage, vector
from memcircuit.solvers.nodal import NodalNetwork


def test_element_arrays_lower_cell_by_cell_with_masks_and_mixed_buses():
    port, inner = Bus("r", (2,)), Bus("r", (2, 3))
    ii, jj = np.indices((2, 3))
    left = Pins.where(jj == 0, Pins.grid(port, (2, 3), (ii,)), Pins.grid(inner, (2, 3), (ii, np.maximum(jj - 1, 0))))
    seg = ResistorArray("Rr", (2, 3), (left, Pins.grid(inner, (2, 3))), resistance=2.0)
    tap = ResistorArray("Rt", (2, 3), (Pins.grid(inner, (2, 3)), Pins.grid(Bus("0"), (2, 3))),
                        present=jj == 2, resistance=np.array([[10.0], [20.0]]))
    out = list(lower([seg, tap]))
    assert [e.name for e in out[:4]] == ["Rr0_0", "Rr0_1", "Rr0_2", "Rt0_2"]
    assert out[0].nodes == ("r0", "r0_0") and out[1].nodes == ("r0_0", "r0_1")
    assert out[3].nodes == ("r0_2", "0") and out[3].resistance == 10.0
    assert element_count([seg, tap]) == len(out) == 8
    with pytest.raises(NetlistError, match="resistance"):
        ResistorArray("Rz", (2,), (Pins.grid(port, (2,)), Pins.grid(Bus("0"), (2,))), resistance=[1.0, 0.0])


def test_probe_vectors_are_spelled_in_one_place():
    assert vector(Current("Vsense3")) == "i(vsense3)"
    assert vector(Voltage("r1_2", ("Xxbar",))) == "v(xxbar.r1_2)"
    assert vector(StateNode("Xd0_1", "x", ("Xxbar",))) == "v(xxbar.xd0_1.x)"
    assert vector(StateNode("NXd0_1", "st", ("Xxbar",), compiled=True)) == "v(n.xxbar.nxd0_1#st)"
    assert vector(StateNode("Nm", "st", compiled=True)) == "v(nm#st)"


def test_nodal_solver_stamps_a_hand_written_circuit_equal_to_the_analytic_divider():
    """Not a crossbar generator: any circuit of stampable elements. A 1 V source drives a
    divider whose bottom leg is a (single-cell) crossbar read to a 0 V sense source."""
    spec = CrossbarSpec(1, 1)
    base = read_circuit(spec, Cells(g=np.array([[1e-3]])), None)   # 1 kohm cell, r0 driven, c0 sensed
    circuit = base.with_elements(Resistor("Rtop", ("top", "r0"), 1e3))
    circuit = Circuit(circuit.title, tuple(e for e in circuit.elements if e.name != "Vdrv0")
                      + (VoltageSource("Vdrv0", ("top", "0"), wave=External()),),
                      circuit.subckts, circuit.models, options=circuit.options)
    net = NodalNetwork(circuit)
    sol = net.solve(np.array([[1.0], [0.3]]))
    # 1 V over 1 kohm + 1 kohm: 0.5 mA into the sense source, r0 at half the drive
    np.testing.assert_allclose(sol.value(Current("Vsense0")), [5e-4, 1.5e-4], rtol=1e-12)
    np.testing.assert_allclose(sol.value(Voltage("r0")), [0.5, 0.15], rtol=1e-12)
    np.testing.assert_allclose(sol.external_currents()[:, 0], [5e-4, 1.5e-4], rtol=1e-12)


def test_nodal_solver_names_what_it_cannot_stamp():
    circuit = mode_circuit(CrossbarSpec(2, 2), Cells(g=np.full((2, 2), 1e-4)), "forward")
    with pytest.raises(ConfigError, match="BehavioralSource Bbad"):
        NodalNetwork(circuit.with_elements(BehavioralSource("Bbad", ("r0", "0"), "I", Expr("1e-6*V(r1)"))))
    with pytest.raises(ConfigError, match="floating voltage source"):
        NodalNetwork(circuit.with_elements(VoltageSource("Vfl", ("r0", "r1"), dc=0.1)))
    transistor_tia = CrossbarSpec(2, 2, sense="tia", tia=TiaParams(transistor=True))
    with pytest.raises(ConfigError, match="Tia tia0"):
        NodalNetwork(mode_circuit(transistor_tia, Cells(g=np.full((2, 2), 1e-4)), "forward"))


def test_tia_outputs_are_probes_of_the_same_circuit_in_both_back_ends():
    spec = CrossbarSpec(3, 2, r_wire=2.0, sense="tia")
    circuit = mode_circuit(spec, Cells(g=np.full((3, 2), 2e-5)), "forward")
    probes = read_probes(spec)
    assert [vector(p) for p in probes.sensed] == ["v(o0)", "v(o1)"]
    assert "Xtia1" in write(circuit) and "Rf0" in write(circuit)
    sol = NodalNetwork(circuit).solve(np.full((1, 3), 0.1))
    out = sol.values(probes.sensed)[0]
    # a TIA with a near-ideal op-amp: V_out = -r_f * I, I ~ 3 cells x 2e-5 S x 0.1 V
    np.testing.assert_allclose(out, -spec.tia.r_f * 6e-6, rtol=1e-3)
    np.testing.assert_allclose(sol.values(probes.tia_in)[0], 0.0, atol=1e-4)


@pytest.mark.ngspice
def test_held_states_bias_equals_the_frozen_netlist_and_needs_one_parse():
    """Hybrid's bias netlist takes the cell states from external sources: one parse for the
    tile, and at any state the cell voltages and driver power of the netlist that holds that
    state in its frozen subcircuits."""
    from memcircuit.circuits.netlists import bias_circuit, cell_terminal_probes, driver_probes
    from memcircuit.devices import get_device
    from memcircuit.netlist import Op
    from memcircuit.spice import run
    from memcircuit.tiles import make_tile

    dev = get_device("vteam")              # a non-ohmic I-V: the state enters non-linearly
    rng = np.random.default_rng(5)
    spec = CrossbarSpec(5, 4, r_wire=3.0)
    row_v, col_v = rng.uniform(-0.4, 0.4, 5), rng.uniform(-0.2, 0.2, 4)
    states = [rng.uniform(0.1, 0.9, (5, 4)) for _ in range(3)]
    with make_tile("hybrid", 5, 4, device=dev, states=states[0], r_wire=3.0) as tile:
        engine = tile.engine(0)
        parses = []
        call = engine._call
        engine._call = lambda message, **k: (parses.append(1) if message[0] == "load" else None) or call(message, **k)
        solved = []
        for x in states:
            tile.set_states(x)
            solved.append(tile.solver.bias(row_v, col_v))
    assert len(parses) == 1
    for x, (v, power, _) in zip(states, solved):
        frozen = bias_circuit(spec, Cells(device=dev, states=x), row_v, col_v)
        ref = run(frozen, Op())
        top, bottom = cell_terminal_probes(frozen)
        v_ref = np.array([ref.scalar(a) - ref.scalar(b) for a, b in zip(top, bottom)]).reshape(5, 4)
        i_ref = np.array([-ref.scalar(c) for _, c in driver_probes(spec)])
        np.testing.assert_allclose(v, v_ref, rtol=1e-9, atol=1e-12)
        assert power == pytest.approx(float(np.sum(np.r_[row_v, col_v] * i_ref)), rel=1e-9)
