"""Learning-rate cells as circuits: the cell stage's gain in ngspice against the analytic
inverting amplifier, and the learning-rate trajectory of the spice circuit against the same
circuit solved with the device's numeric twin."""

from __future__ import annotations

import numpy as np
import pytest

from memcircuit.circuits.lrcell import LrCellParams, use_circuit
from memcircuit.devices import get_device
from memcircuit.errors import ConfigError
from memcircuit.spice import BatchEngine
from memcircuit.train.optimizers.lrcell import CELL_OPAMP, LrCell
from memcircuit.train.pulses import calibrate

CELL = get_device("lr-cell")
CAL = calibrate(CELL, v_read=0.1, levels=100)


@pytest.mark.ngspice
@pytest.mark.parametrize("x", [1.0, 0.6, 0.2])
def test_cell_stage_gain_is_the_inverting_amplifier_formula(x):
    """v_out / v_read = G R_f / (1 + (1 + G R_f) / A) (Sedra and Smith 2015, eq. 2.5), G the
    memristor's chord conductance at the read voltage."""
    r_f = 2e4
    params = LrCellParams(r_f=r_f, opamp=CELL_OPAMP, t_adapt=0.0, v_read=0.1)
    circuit, analysis, probes = use_circuit(CELL, x, params, 10e-9)
    result = BatchEngine().run(circuit, analysis)
    gain = float(np.interp(probes["t_gain"], result.time, result[probes["out"]])) / 0.1
    g = float(CELL.conductance(np.array([x]), 0.1)[0])     # chord conductance at the read voltage (S)
    a = CELL_OPAMP.gain
    assert gain == pytest.approx(g * r_f / (1 + (1 + g * r_f) / a), rel=1e-4)
    assert float(result[probes["state"]][-1]) == pytest.approx(x, abs=1e-9)   # reads leave the cell alone


def _trajectory(circuit: str, uses: int = 40) -> np.ndarray:
    """Learning-rate factors a layer's cell gives over ``uses`` mini-batches of seeded gradients."""
    opt = LrCell(1.0, CELL, CAL, "layer", 0.1, circuit=circuit)
    opt.setup([(5, 3)], np.random.default_rng(0))
    rng = np.random.default_rng(1)
    factors = []
    for b in range(uses):
        x, d = rng.normal(size=(8, 5)), rng.normal(size=(8, 3)) * (1 + 0.5 * np.sin(b))
        update = opt.step([(x, d)])[0]
        factors.append(float(-update.v[0, 0] / d[0, 0]))
    return np.array(factors)


@pytest.mark.ngspice
def test_spice_learning_rate_trajectory_follows_the_twin():
    """Tolerance: within 5 % of the twin's total decay at every use (the transient's 1 ns pulse
    edges against the twin's rectangles, and the op-amp's finite speed, move the cell by ~2 %
    less per pulse)."""
    twin, spice = _trajectory("twin"), _trajectory("spice")
    assert twin[0] == pytest.approx(1.0, abs=1e-4) and twin[-1] < 0.8      # the rate really decays
    np.testing.assert_allclose(spice, twin, atol=0.05 * (1 - twin[-1]))
    assert np.all(np.diff(spice) <= 1e-6)                                   # depressing pulses only


def test_per_synapse_cells_at_spice_are_refused():
    with pytest.raises(ConfigError, match="per synapse"):
        LrCell(1.0, CELL, CAL, "synapse", 0.1, circuit="spice")
