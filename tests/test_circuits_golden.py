"""Golden reference netlists in ``netlists/``: the generators must reproduce them exactly, and
each one must simulate in ngspice to the answer an independent reference gives.

Regenerate after an intended generator change with ``MEMCIRCUIT_UPDATE_GOLDEN=1 pytest
tests/test_circuits_golden.py`` and review the diff. ``.include`` paths (the PTM card's location
differs between machines) are compared as a placeholder.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from test_tiles import dense_reference

from memcircuit.circuits import AdcParams, Cells, CrossbarSpec, DriverParams, TiaParams, TransistorParams
from memcircuit.circuits.drivers import INVERTER_SUBCKT, inverter_subckt
from memcircuit.circuits.lrcell import LR_SUBCKT, LearningRateCell, LrCellParams
from memcircuit.circuits.netlists import read_analysis, read_circuit, standalone_circuit
from memcircuit.circuits.signed import combine
from memcircuit.circuits.transistor import ptm45_card
from memcircuit.netlist import Circuit, DcSweep, Op, Resistor, SubcktInstance, VoltageSource, write
from memcircuit.spice import UserNetlist, run
from memcircuit.tiles import make_tile

NETLISTS = Path(__file__).resolve().parents[1] / "netlists"


def fixed_g(rows: int, cols: int) -> np.ndarray:
    i, j = np.indices((rows, cols))
    return 1e-6 + 99e-6 * ((3 * i + 5 * j) % 11) / 10


V_BATCH = np.array([[0.1, -0.2, 0.15], [0.3, 0.05, -0.1]])


def case_crossbar_1r():
    spec = CrossbarSpec(4, 3, r_wire=2.5)
    return write(standalone_circuit(spec, Cells(g=fixed_g(4, 3)), 0.1, title="golden 4x3 1R r_wire=2.5"),
                 analyses=[Op()])


SIGNED_SPEC = CrossbarSpec(3, 4, r_wire=1.0, cell="1T1R", sense="tia", tia=TiaParams(r_f=5e3),
                           adc=AdcParams(bits=8, v_low=-0.5, v_high=0.5), transistor=TransistorParams(lam=0.02))


def case_signed_1t1r():
    return write(standalone_circuit(SIGNED_SPEC, Cells(g=fixed_g(3, 4)), 0.1, signed="differential",
                                    title="golden 3x4 1T1R tia adc differential"), analyses=[Op()])


REF_SPEC = CrossbarSpec(2, 3, r_wire=0.5, sense="tia", driver=DriverParams(r_out=50.0))


def case_reference_tia():
    return write(standalone_circuit(REF_SPEC, Cells(g=fixed_g(2, 3)), np.array([0.2, -0.1]), signed="reference",
                                    title="golden 2x3 reference tia r_out=50"), analyses=[Op()])


def case_read_batch():
    spec = CrossbarSpec(3, 2, r_wire=3.0)
    return write(read_circuit(spec, Cells(g=fixed_g(3, 2)), V_BATCH, title="golden batch read 3x2"),
                 analyses=[read_analysis(2)])


def case_lr_cell():
    cell = LearningRateCell(g=2e-5, params=LrCellParams(r_f=2e4))
    sub, extra = cell.subckt()
    circuit = Circuit("golden learning-rate cell", elements=(
        VoltageSource("Vin", ("in", "0"), dc=0.5), SubcktInstance("Xlr", ("in", "out"), LR_SUBCKT),
        Resistor("Rload", ("out", "0"), 1e5)), subckts=(sub, *extra))
    return write(circuit, analyses=[Op()])


def case_tia_ptm45():
    spec = CrossbarSpec(2, 2, sense="tia", tia=TiaParams(r_f=1e4, transistor=True))
    return write(standalone_circuit(spec, Cells(g=fixed_g(2, 2)), 0.1, title="golden 2x2 transistor-level TIA"),
                 analyses=[Op()])


def case_inverter_driver():
    circuit = Circuit("golden CMOS inverter row driver", elements=(
        VoltageSource("Vdd", ("vdd", "0"), dc=1.0), VoltageSource("Vin", ("in", "0"), dc=0.0),
        SubcktInstance("Xdrv", ("in", "row", "vdd", "0"), INVERTER_SUBCKT),
        Resistor("Rcell0", ("row", "0"), 1e5), Resistor("Rcell1", ("row", "0"), 2e5),
    ), subckts=(inverter_subckt(),), includes=(str(ptm45_card()),))
    return write(circuit, analyses=[DcSweep("Vin", 0.0, 1.0, 0.05)])


CASES = {
    "crossbar_4x3_1r_wire.cir": case_crossbar_1r,
    "crossbar_3x4_1t1r_tia_adc_differential.cir": case_signed_1t1r,
    "crossbar_2x3_reference_tia_rout.cir": case_reference_tia,
    "read_batch_3x2_index_sweep.cir": case_read_batch,
    "lr_cell_fixed.cir": case_lr_cell,
    "tia_ptm45_2x2.cir": case_tia_ptm45,
    "inverter_driver_ptm45.cir": case_inverter_driver,
}
_INCLUDE = re.compile(r'^\.include ".*"$', re.MULTILINE)


def _normalise(text: str) -> str:
    return _INCLUDE.sub('.include "<path>"', text)


@pytest.mark.parametrize("name", sorted(CASES))
def test_generator_reproduces_golden(name, update_golden):
    text = CASES[name]()
    path = NETLISTS / name
    if update_golden or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert _normalise(text) == _normalise(path.read_text())


def simulate(name: str):
    text = _INCLUDE.sub(lambda m: f'.include "{ptm45_card()}"', (NETLISTS / name).read_text())
    return run(UserNetlist.from_text(text, source=name))


@pytest.mark.ngspice
def test_golden_1r_crossbar_matches_dense_reference():
    result = simulate("crossbar_4x3_1r_wire.cir")
    currents = np.array([result.scalar(f"i(vsense{j})") for j in range(3)])
    np.testing.assert_allclose(currents, dense_reference(fixed_g(4, 3), np.full((1, 4), 0.1), 2.5)[0], rtol=1e-9)


@pytest.mark.ngspice
def test_golden_signed_1t1r_matches_numeric_tile():
    result = simulate("crossbar_3x4_1t1r_tia_adc_differential.cir")
    tile = make_tile("numeric", 3, 4, g=fixed_g(3, 4), r_wire=1.0, sense="tia", cell="1T1R", tia=SIGNED_SPEC.tia,
                     adc=SIGNED_SPEC.adc, transistor=SIGNED_SPEC.transistor)
    q = -tile.read(np.full(3, 0.1)) * SIGNED_SPEC.tia.r_f  # ADC codes in volts
    np.testing.assert_allclose([result.scalar(f"v(q{j})") for j in range(4)], q, atol=1e-9)
    np.testing.assert_allclose([result.scalar(f"v(d{k})") for k in range(2)], combine(q, "differential"), atol=1e-9)


@pytest.mark.ngspice
def test_golden_reference_layout_matches_numeric_tile():
    result = simulate("crossbar_2x3_reference_tia_rout.cir")
    tile = make_tile("numeric", 2, 3, g=fixed_g(2, 3), r_wire=0.5, sense="tia", driver=REF_SPEC.driver)
    v_out = -tile.read(np.array([0.2, -0.1])) * REF_SPEC.tia.r_f
    np.testing.assert_allclose([result.scalar(f"v(o{j})") for j in range(3)], v_out, rtol=1e-6)
    np.testing.assert_allclose([result.scalar(f"v(d{k})") for k in range(2)], combine(v_out, "reference"), rtol=1e-6)


@pytest.mark.ngspice
def test_golden_batch_read_matches_dense_reference():
    result = simulate("read_batch_3x2_index_sweep.cir")
    currents = np.stack([result[f"i(vsense{j})"] for j in range(2)], axis=1)
    np.testing.assert_allclose(currents, dense_reference(fixed_g(3, 2), V_BATCH, 3.0), rtol=1e-9)


@pytest.mark.ngspice
def test_golden_lr_cell_gain_matches_formula():
    result = simulate("lr_cell_fixed.cir")
    cell = LearningRateCell(g=2e-5, params=LrCellParams(r_f=2e4))
    # inverting stage: out = -gain * in (the driver's second inversion is outside the cell)
    assert result.scalar("v(out)") == pytest.approx(-0.5 * cell.gain(), rel=1e-6)
    assert cell.gain() == pytest.approx(2e-5 * 2e4 / (1 + (1 + 0.4) / 1e5), rel=1e-12)


@pytest.mark.ngspice
def test_golden_transistor_tia_is_a_working_amplifier():
    result = simulate("tia_ptm45_2x2.cir")
    g = fixed_g(2, 2)
    ideal = -0.1 * g.sum(axis=0) * 1e4  # ideal TIA output for 0.1 V on both rows
    v_out = np.array([result.scalar(f"v(o{j})") for j in range(2)])
    # open-loop gain ~1.2e3 and < 0.2 mV offset: within 1 % + 0.5 mV of the ideal transimpedance
    np.testing.assert_allclose(v_out, ideal, rtol=1e-2, atol=5e-4)
    assert abs(result.scalar("v(c0)")) < 2e-3  # a good virtual ground


@pytest.mark.ngspice
def test_golden_inverter_drives_a_row_rail_to_rail():
    result = simulate("inverter_driver_ptm45.cir")
    row = result["v(row)"]
    assert row[0] > 0.99 and row[-1] < 0.01        # low input -> row at Vdd, high input -> 0 V
    assert np.all(np.diff(row) <= 1e-9)              # monotonic inverting transfer
    assert 0.3 < result.sweep[np.argmin(np.abs(row - 0.5))] < 0.7  # switching threshold mid-rail
