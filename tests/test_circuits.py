"""Circuit generators: structure, golden netlists, and ngspice against analytic formulas."""

from __future__ import annotations

import numpy as np
import pytest

from memcircuit.circuits import AdcParams, Cells, CrossbarSpec, DriverParams, OpAmpParams, TiaParams
from memcircuit.circuits.crossbar import crossbar_subckt
from memcircuit.circuits.drivers import dac_quantise, half_select, index_driver, index_source, pulse_waveforms
from memcircuit.circuits.netlists import read_analysis, read_circuit, read_probes, sensed_current
from memcircuit.circuits.sense import adc_expr, adc_quantise, soft_clip, tia_linear_gain, tia_output
from memcircuit.circuits.signed import combine, logical_cols, pairs, physical_cols, weights_to_conductances
from memcircuit.circuits.spec import TransistorParams
from memcircuit.circuits.transistor import level1_channel, level1_model
from memcircuit.errors import ConfigError
from memcircuit.netlist import BehavioralSource, Circuit, DcSweep, ModelInstance, Resistor, VoltageSource, write
from memcircuit.netlist.arrays import lower
from memcircuit.spice import run
from memcircuit.tiles import PulseStep, make_tile


def test_crossbar_subckt_structure():
    spec = CrossbarSpec(3, 4, r_wire=2.0)
    g = np.full((3, 4), 1e-5)
    g[1, 2] = 0.0  # an empty cell is left out
    sub, extra, models, includes = crossbar_subckt(spec, g=g)
    names = [e.name for e in lower(sub.elements)]
    assert sub.ports == ("r0", "r1", "r2", "c0", "c1", "c2", "c3")
    assert sum(n.startswith("Rx") for n in names) == 11 and "Rx1_2" not in names
    assert sum(n.startswith("Rr") for n in names) == 12      # driver->first cell + between cells
    assert sum(n.startswith("Rc") for n in names) == 8       # between cells on columns
    assert sum(n.startswith("Rb") for n in names) == 4       # last cell -> sense amplifier
    assert extra == () and models == () and includes == ()
    cell = next(e for e in lower(sub.elements) if e.name == "Rx0_0")
    assert cell.nodes == ("r0_0", "c0_0") and cell.resistance == pytest.approx(1e5)
    # no wire resistance: cells sit on the ports themselves
    bare, *_ = crossbar_subckt(CrossbarSpec(2, 2), g=np.ones((2, 2)) * 1e-5)
    assert {e.nodes for e in lower(bare.elements)} == {("r0", "c0"), ("r0", "c1"), ("r1", "c0"), ("r1", "c1")}


def test_one_t_one_r_and_errors():
    spec = CrossbarSpec(2, 2, cell="1T1R", r_wire=1.0, transistor=TransistorParams(w=2e-6))
    sub, _, models, _ = crossbar_subckt(spec, g=np.full((2, 2), 1e-5))
    mos = [e for e in lower(sub.elements) if isinstance(e, ModelInstance)]
    assert len(mos) == 4 and mos[0].nodes == ("m0_0", "w0", "c0_0", "0")
    assert models == (level1_model(spec.transistor),)
    assert sub.ports[-2:] == ("w0", "w1")
    with pytest.raises(ConfigError):
        crossbar_subckt(spec, g=np.ones((3, 2)))
    with pytest.raises(ConfigError):
        crossbar_subckt(spec)  # neither g nor a device
    with pytest.raises(ConfigError):
        CrossbarSpec(2, 2, sense="ideal", adc=AdcParams())
    with pytest.raises(ConfigError):
        CrossbarSpec(0, 2)


def test_half_select_schemes_put_v_on_one_cell():
    for scheme, others in (("V/2", {0.0, 0.5}), ("V/3", {1 / 3, -1 / 3})):
        rows, cols = half_select(4, 5, 1, 3, 1.2, scheme)
        cell = rows[:, None] - cols[None, :]
        assert cell[1, 3] == pytest.approx(1.2)
        mask = np.ones_like(cell, dtype=bool)
        mask[1, 3] = False
        assert set(np.round(cell[mask] / 1.2, 9)) <= {round(o, 9) for o in others}
        assert np.max(np.abs(cell[mask])) <= 0.6 + 1e-12
    with pytest.raises(ConfigError):
        half_select(2, 2, 0, 0, 1.0, "V/4")


def test_dac_and_adc_quantisers():
    p = DriverParams(dac_bits=2, v_full=1.5)
    np.testing.assert_allclose(dac_quantise(np.array([-2.0, -0.6, 0.2, 0.51, 9.0]), p), [-1.5, -0.5, 0.5, 0.5, 1.5])
    np.testing.assert_allclose(dac_quantise(np.array([0.123]), DriverParams()), [0.123])
    a = AdcParams(bits=3, v_low=-1.0, v_high=0.4)
    levels = -1.0 + 0.2 * np.arange(8)
    v = np.array([-3.0, -0.91, -0.35, 0.05, 0.39, 2.0])
    expected = levels[np.argmin(np.abs(np.clip(v, -1, 0.4)[:, None] - levels), axis=1)]
    np.testing.assert_allclose(adc_quantise(v, a), expected, atol=1e-12)


def test_pulse_waveforms_have_the_requested_area():
    steps = [PulseStep(np.array([0.7, 0.0]), np.array([-0.7, 0.0, 0.35]), 1e-6, np.array([1e-6, 0, 3e-7])),
             PulseStep(np.array([0.0, -1.0]), np.array([0.0, 0.5, 0.0]), 5e-8, 2e-6)]
    rows, cols, starts = pulse_waveforms(steps, 2, 3, edge=2e-9, gap=1e-8)
    assert len(starts) == 3 and starts[1] > starts[0] + 1e-6

    def area(w):
        pts = np.array(w.points)
        return np.trapezoid(pts[:, 1], pts[:, 0])

    assert area(rows[0]) == pytest.approx(0.7e-6, rel=1e-12)
    assert area(rows[1]) == pytest.approx(-1.0 * 5e-8, rel=1e-12)
    assert area(cols[2]) == pytest.approx(0.35 * 3e-7, rel=1e-12)
    assert area(cols[1]) == pytest.approx(0.5 * 2e-6, rel=1e-12)
    assert area(cols[0]) == pytest.approx(-0.7e-6, rel=1e-12)


def test_signed_layouts():
    w = np.array([[1.0, -0.5], [0.0, 0.25]])
    g = weights_to_conductances(w, 1e-6, 1e-4, "differential")
    assert g.shape == (2, 4) and physical_cols(2, "differential") == 4 and logical_cols(4, "differential") == 2
    v = np.array([[0.1, -0.2]])
    out = combine(v @ g, "differential")
    np.testing.assert_allclose(out, v @ w * (1e-4 - 1e-6), rtol=1e-12)
    gr = weights_to_conductances(w, 1e-6, 1e-4, "reference")
    assert gr.shape == (2, 3) and pairs(3, "reference") == [(0, 2), (1, 2)]
    np.testing.assert_allclose(combine(v @ gr, "reference"), v @ w * (1e-4 - 1e-6) / 2, rtol=1e-12)
    with pytest.raises(ConfigError):
        logical_cols(3, "differential")


def test_soft_clip_is_linear_inside_and_flat_outside():
    p = OpAmpParams(v_low=-1.0, v_high=0.8, smooth=1e-3)
    u = np.array([-0.9, 0.0, 0.5, 0.7])
    out, slope = soft_clip(u, p)
    np.testing.assert_allclose(out, u, atol=1e-12)
    np.testing.assert_allclose(slope, 1.0, atol=1e-12)
    out, slope = soft_clip(np.array([-1e5, 1e5]), p)
    np.testing.assert_allclose(out, [-1.0, 0.8], atol=1e-12)
    np.testing.assert_allclose(slope, 0.0, atol=1e-12)


# --------------------------------------------------------------------------- ngspice checks


@pytest.mark.ngspice
@pytest.mark.parametrize("fidelity", ["spice", "numeric"])
def test_tia_gain_error_and_saturation_match_analytic(fidelity):
    """One cell G = 1/r_s feeding a TIA: v_out = -v (r_f/r_s) / (1 + 1/(A beta)), then the rails."""
    r_s, gain = 1e4, 200.0
    tia = TiaParams(r_f=2e4, opamp=OpAmpParams(gain=gain, v_low=-1.0, v_high=1.0))
    v = np.array([[-0.4], [-0.1], [0.05], [0.3], [2.0], [-3.0]])
    with make_tile(fidelity, 1, 1, g=np.array([[1 / r_s]]), sense="tia", tia=tia) as tile:
        reported = tile.read(v)[:, 0]
    v_out = -reported * tia.r_f
    linear = np.abs(v[:, 0]) < 0.4
    beta = r_s / (r_s + tia.r_f)
    np.testing.assert_allclose(v_out[linear], -v[linear, 0] * 2.0 / (1 + 1 / (gain * beta)), rtol=1e-6)
    np.testing.assert_allclose(v_out[linear] / v[linear, 0], tia_linear_gain(r_s, tia), rtol=1e-6)
    # gain error: about 1/(A beta) = 1.5 % low, as the formula says
    ideal = -2.0 * v[linear, 0]
    np.testing.assert_allclose(1 - v_out[linear] / ideal, 1 / (1 + gain * beta), rtol=1e-5)
    # saturation at the rails (within the soft knee) and the full analytic solution everywhere
    assert v_out[4] == pytest.approx(-1.0, abs=2e-3) and v_out[5] == pytest.approx(1.0, abs=2e-3)
    np.testing.assert_allclose(v_out, tia_output(v[:, 0], r_s, tia), rtol=1e-6, atol=1e-9)


@pytest.mark.ngspice
def test_adc_in_ngspice_equals_quantiser():
    adc = AdcParams(bits=5, v_low=-0.8, v_high=0.6)
    circuit = Circuit("adc", elements=(VoltageSource("V1", ("a", "0")), Resistor("R1", ("a", "0"), 1e3),
                                       BehavioralSource("Badc", ("q", "0"), "V", adc_expr("a", adc))))
    result = run(circuit, DcSweep("V1", -1.013, 1.0, 0.0173))
    np.testing.assert_allclose(result["v(q)"], adc_quantise(result.sweep, adc), atol=1e-9)


@pytest.mark.ngspice
def test_level1_transistor_equals_ngspice_mos1():
    p = TransistorParams(vto=0.45, kp=150e-6, lam=0.05, w=2e-6, l=200e-9, v_gate=1.1)
    circuit = Circuit("mos", elements=(
        VoltageSource("Vg", ("g", "0"), dc=p.v_gate), VoltageSource("Vd", ("d", "0")),
        VoltageSource("Vs", ("s", "0"), dc=0.1),
        ModelInstance("M1", ("d", "g", "s", "0"), "nacc", (("w", p.w), ("l", p.l))),
    ), models=(level1_model(p),), options=(("reltol", 1e-7),))  # converge tightly: we test equations
    result = run(circuit, DcSweep("Vd", -0.6, 1.2, 0.01))
    current = level1_channel(p.v_gate, result.sweep, 0.1, p)[0]
    measured = -result["i(vd)"]  # current into the drain terminal from the source Vd
    np.testing.assert_allclose(measured, current, rtol=1e-6, atol=1e-11)
    # and the partials we hand to Newton are the derivatives of that current
    h = 1e-7
    vd = result.sweep
    fd_d = (level1_channel(p.v_gate, vd + h, 0.1, p)[0] - level1_channel(p.v_gate, vd - h, 0.1, p)[0]) / (2 * h)
    fd_s = (level1_channel(p.v_gate, vd, 0.1 + h, p)[0] - level1_channel(p.v_gate, vd, 0.1 - h, p)[0]) / (2 * h)
    _, d_vd, d_vs = level1_channel(p.v_gate, vd, 0.1, p)
    np.testing.assert_allclose(d_vd, fd_d, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(d_vs, fd_s, rtol=1e-5, atol=1e-9)


@pytest.mark.ngspice
@pytest.mark.parametrize("sense", ["ideal", "tia"])
def test_one_t_one_r_numeric_equals_spice(sense):
    rng = np.random.default_rng(11)
    g = rng.uniform(1e-5, 1e-4, (4, 3))
    v = rng.uniform(-0.3, 0.3, (5, 4))
    kw = {"cell": "1T1R", "transistor": TransistorParams(lam=0.02), "sense": sense}
    numeric = make_tile("numeric", 4, 3, g=g, r_wire=2.0, **kw).read(v)
    with make_tile("spice", 4, 3, g=g, r_wire=2.0, **kw) as tile:
        spice = tile.read(v)
    np.testing.assert_allclose(numeric, spice, rtol=1e-4, atol=1e-4 * np.max(np.abs(spice)))
    # with all inputs positive every cell current is positive and the access transistor's
    # on-resistance costs current: every column reads less than the 1R array
    plus = np.abs(v)
    one_t = make_tile("numeric", 4, 3, g=g, r_wire=2.0, **kw).read(plus)
    one_r = make_tile("numeric", 4, 3, g=g, r_wire=2.0, sense=sense).read(plus)
    assert np.all(one_t > 0) and np.all(one_t < one_r)


@pytest.mark.ngspice
def test_index_driver_reads_each_value_exactly():
    values = [0.1, -0.2, 1e-3, 0.3333333333, -7e-6]
    circuit = Circuit("idx", elements=(index_source(), index_driver("Bd", "a", values),
                                       Resistor("R1", ("a", "0"), 1e3)))
    result = run(circuit, read_analysis(len(values)))
    np.testing.assert_allclose(result["v(a)"], values, rtol=1e-11, atol=1e-15)


@pytest.mark.ngspice
def test_read_circuit_with_adc_and_r_out_matches_numeric():
    rng = np.random.default_rng(2)
    spec = CrossbarSpec(5, 4, r_wire=3.0, sense="tia", tia=TiaParams(r_f=5e3), adc=AdcParams(bits=10, v_low=-0.5,
                        v_high=0.5), driver=DriverParams(r_out=100.0))
    g = rng.uniform(1e-6, 1e-4, (5, 4))
    v = rng.uniform(-0.2, 0.2, (6, 5))
    result = run(read_circuit(spec, Cells(g=g), v), read_analysis(6))
    spice = sensed_current(spec, np.stack([result[p] for p in read_probes(spec).sensed], axis=1))
    numeric = make_tile("numeric", 5, 4, g=g, r_wire=3.0, sense="tia", tia=spec.tia, adc=spec.adc,
                        driver=spec.driver).read(v)
    lsb_current = spec.adc.lsb / spec.tia.r_f
    assert np.max(np.abs(spice - numeric)) <= 1e-9 * lsb_current or np.mean(spice == numeric) > 0.9
    assert np.max(np.abs(spice - numeric)) <= lsb_current * (1 + 1e-9)


def test_writer_output_is_stable_text():
    spec = CrossbarSpec(2, 2, r_wire=1.0)
    text = write(read_circuit(spec, Cells(g=np.full((2, 2), 2e-5)), np.array([[0.1, 0.2], [0.3, -0.1]])))
    assert "Bdrv0 r0 0 V={pwl(V(idx), 0, 100m, 1, 300m)}" in text
    assert "Vsense1 c1 0 DC 0" in text and text.count("\n") > 10


def test_learning_rate_cell_scales_and_adapts():
    from threshold_device import ThresholdDevice

    from memcircuit.circuits.lrcell import LearningRateCell, LrCellParams
    from memcircuit.tiles.programming import half_select_program, lr_scaled

    device = ThresholdDevice()
    cell = LearningRateCell(device, x0=0.9, params=LrCellParams(r_f=1e4, v_adapt=-1.0, t_adapt=2e-6))
    g0 = cell.conductance()
    assert g0 == pytest.approx(device.conductance(np.asarray(0.9), 0.1), rel=1e-12)
    assert cell.gain() == pytest.approx(g0 * 1e4 / (1 + (1 + g0 * 1e4) / 1e5), rel=1e-12)
    program = half_select_program(2, 2, [(0, 1, 1.0, 1e-6)])
    scaled = lr_scaled(program, cell, side="rows")
    expected_gain = g0 * 1e4 / (1 + (1 + g0 * 1e4) / 1e5)
    np.testing.assert_allclose(scaled.steps[0].rows, program.steps[0].rows * expected_gain, rtol=1e-12)
    np.testing.assert_allclose(scaled.steps[0].cols, program.steps[0].cols)
    # adaptation: the learning rate falls, in steps that shrink as the state nears its bound
    history = [cell.conductance()]
    for _ in range(6):
        history.append(cell.adapt())
    steps = -np.diff(history)
    assert np.all(steps > 0) and np.all(np.diff(steps) < 0)
    fixed = LearningRateCell(g=1e-5)
    assert fixed.adapt() == 1e-5
    with pytest.raises(ConfigError):
        LearningRateCell()


@pytest.mark.ngspice
def test_opamp_bandwidth_follower_step_matches_single_pole():
    """Voltage follower: one pole, closed-loop time constant (R1 C1)/(1 + A) = A/((1 + A) 2 pi GBW)."""
    from memcircuit.circuits.sense import opamp_subckt
    from memcircuit.netlist import Pulse, SubcktInstance, Tran

    p = OpAmpParams(gain=1e3, gbw=1e6)
    circuit = Circuit("follower", elements=(
        VoltageSource("Vin", ("in", "0"), wave=Pulse(0.0, 0.1, 0.0, 1e-12, 1e-12, 1.0)),
        SubcktInstance("Xa", ("in", "out", "out"), "opamp_beh"), Resistor("Rl", ("out", "0"), 1e6),
    ), subckts=(opamp_subckt(p),))
    tau = p.gain / ((1 + p.gain) * 2 * np.pi * p.gbw)
    result = run(circuit, Tran(tau / 50, 6 * tau, max_step=tau / 50))
    t = result.time
    expected = 0.1 * p.gain / (1 + p.gain) * (1 - np.exp(-t / tau))
    assert np.max(np.abs(result["v(out)"] - expected)) < 2e-3 * 0.1


def test_parasitic_capacitance_elements():
    sub, *_ = crossbar_subckt(CrossbarSpec(2, 3, r_wire=1.0, c_wire=2e-15), g=np.full((2, 3), 1e-5))
    caps = [e for e in lower(sub.elements) if e.name.startswith("C")]
    assert len(caps) == 12 and all(c.capacitance == 2e-15 and c.nodes[1] == "0" for c in caps)
    assert {c.nodes[0] for c in caps} >= {"r1_2", "c0_0"}
