"""Learning-rate cells as circuits: the cell stage's gain in ngspice against the analytic
inverting amplifier, the cell inside the array's programming transient against the cell alone,
and the spice transient against the same circuit solved with the devices' numeric twins."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from memcircuit.circuits.drivers import pulse_schedule
from memcircuit.circuits.lrcell import LrCellParams, LrStage, use_circuit
from memcircuit.devices import get_device
from memcircuit.errors import ConfigError
from memcircuit.spice import BatchEngine
from memcircuit.tiles import make_tile
from memcircuit.tiles.base import PulseProgram, PulseStep
from memcircuit.train.optimizers.lrcell import CELL_OPAMP, LrCell
from memcircuit.train.pulses import calibrate

CELL = get_device("lr-cell")
CAL = calibrate(CELL, v_read=0.1, levels=100)
ARRAY = get_device("exp-pulse")
ARRAY_CAL = calibrate(ARRAY, v_read=0.1, levels=1000, max_units=128)
G_START = float(CELL.conductance(np.array([1.0]), 0.1)[0])
PARAMS = LrCellParams(r_f=1.0 / G_START, opamp=CELL_OPAMP, v_adapt=-CAL.polarity * CAL.v_prog, t_adapt=0.0,
                      v_read=0.1)


def _formula(x: float, r_f: float) -> float:
    """v_out / v_read = G R_f / (1 + (1 + G R_f) / A) (Sedra and Smith 2015, eq. 2.5), G the
    memristor's chord conductance at the read voltage."""
    g = float(CELL.conductance(np.array([x]), 0.1)[0])
    return g * r_f / (1 + (1 + g * r_f) / CELL_OPAMP.gain)


def _steps(rng: np.random.Generator, rows: int = 4, cols: int = 3, n: int = 3) -> tuple[PulseStep, ...]:
    """Outer-product-like steps: row amplitudes up to V/2, columns at -V/2 for 1..19 unit pulses."""
    half = ARRAY_CAL.v_prog / 2 * ARRAY_CAL.polarity
    steps = []
    for _ in range(n):
        cols_v = -np.where(rng.random(cols) < 0.8, half, 0.0)
        widths = rng.integers(1, 20, cols) * ARRAY_CAL.t_unit
        steps.append(PulseStep(rng.uniform(0, 1, rows) * half, cols_v, widths.max(), widths))
    return tuple(steps)


@pytest.mark.ngspice
@pytest.mark.parametrize("x", [1.0, 0.6, 0.2])
def test_cell_stage_gain_is_the_inverting_amplifier_formula(x):
    r_f = 2e4
    params = LrCellParams(r_f=r_f, opamp=CELL_OPAMP, t_adapt=0.0, v_read=0.1)
    circuit, analysis, probes = use_circuit(CELL, x, params, 10e-9)
    result = BatchEngine().run(circuit, analysis)
    gain = float(np.interp(probes["t_gain"], result.time, result[probes["out"]])) / 0.1
    assert gain == pytest.approx(_formula(x, r_f), rel=1e-4)
    assert LrStage(CELL, x, params).width_factor() == pytest.approx(_formula(x, r_f), rel=1e-9)
    assert float(result[probes["state"]][-1]) == pytest.approx(x, abs=1e-9)   # reads leave the cell alone


@pytest.mark.ngspice
def test_cell_in_the_array_transient_equals_the_cell_alone():
    """The stage inside a tile's programming transient: its output is the formula, the pulses the
    array sees last their width times it, and the cell's final state and energy equal those of a
    transient of the stage alone with the same input (held at -v_read for the program, then the
    adaptation pulse)."""
    x0, steps = 0.7, _steps(np.random.default_rng(3))
    stage = LrStage(CELL, x0, replace(PARAMS, t_adapt=0.8 * CAL.t_unit))
    with make_tile("spice", 4, 3, device=ARRAY, states=np.full((4, 3), 0.5), v_read=0.1) as tile:
        report = tile.program(PulseProgram(steps, stage))
    cell = report.extra["lr_cell"]
    assert cell["gain"] == pytest.approx(_formula(x0, PARAMS.r_f), rel=1e-4)
    # the array's pulses: the first column's driver is on for its width times the gain
    result, t = report.extra["result"], report.extra["time"]
    col0 = -result["v(c0)"] / (ARRAY_CAL.v_prog / 2 * ARRAY_CAL.polarity)
    commanded = sum(s.col_widths[0] for s in steps if s.cols[0] != 0)
    assert np.trapezoid(col0, t) == pytest.approx(commanded * cell["gain"], rel=2e-3)

    t_hold = float(pulse_schedule(steps, 4, 3)[1][-1])
    circuit, analysis, probes = use_circuit(CELL, x0, stage.params, 10e-9, t_hold=t_hold)
    alone = BatchEngine().run(circuit, analysis)
    x_alone = float(alone[probes["state"]][-1])
    assert x0 - x_alone > 0.005                                              # the pulse moved the cell
    assert cell["x"] == pytest.approx(x_alone, abs=2e-3 * (x0 - x_alone))
    energy = np.trapezoid(alone[probes["in"]] * -alone[probes["source"]], alone.time)
    assert cell["energy"] == pytest.approx(energy, rel=2e-3)


@pytest.mark.ngspice
def test_spice_and_numeric_learning_rate_trajectories_agree():
    """Five updates of a 4 x 3 tile, each timed by the cell and followed by its adaptation pulse
    (activity 0.3..1): the cell's width factor at spice within 5 % of the twin's total decay at
    every update (the transient's 1 ns edges on the adaptation pulse move the cell ~2 % less),
    the array's states within 3 % of their mean change (spice and numeric without a cell agree
    within ~1 % on these pulses)."""
    rng = np.random.default_rng(7)
    programs = [_steps(rng) for _ in range(5)]
    activity = rng.uniform(0.3, 1.0, 5)
    out = {}
    for fidelity in ("numeric", "spice"):
        x, factors = 1.0, []
        with make_tile(fidelity, 4, 3, device=ARRAY, states=np.full((4, 3), 0.5), v_read=0.1) as tile:
            for steps, a in zip(programs, activity):
                stage = LrStage(CELL, x, replace(PARAMS, t_adapt=a * CAL.t_unit))
                cell = tile.program(PulseProgram(steps, stage)).extra["lr_cell"]
                factors.append(cell["gain"])
                x = cell["x"]
            out[fidelity] = (np.array(factors + [LrStage(CELL, x, PARAMS).width_factor()]), tile.states())
    (twin, x_twin), (spice, x_spice) = out["numeric"], out["spice"]
    assert twin[0] == pytest.approx(1.0, abs=1e-4) and twin[-1] < 0.97       # the rate really decays
    assert np.all(np.diff(twin) < 0) and np.all(np.diff(spice) < 0)          # depressing pulses only
    np.testing.assert_allclose(spice, twin, atol=0.05 * (1 - twin[-1]))
    change = np.mean(np.abs(x_twin - 0.5))
    np.testing.assert_allclose(x_spice, x_twin, atol=0.03 * change)


@pytest.mark.ngspice
def test_training_with_cells_at_spice_follows_numeric(tmp_path):
    """``train --optimizer lr-cell`` at spice and numeric, 3 mini-batches: the cells' states (read
    back from the programming transients at spice) and the learning rate agree."""
    from memcircuit.train.loop import TrainConfig, Trainer

    rows = {}
    for fidelity in ("numeric", "spice"):
        cfg = TrainConfig(dataset="iris", layers=(4, 5, 3), optimizer="lr-cell", fidelity=fidelity, epochs=1,
                          batch=8, lr=3.0, max_train=24, max_test=10)
        trainer = Trainer(cfg, tmp_path / fidelity)
        try:
            rows[fidelity] = (trainer.run()["epochs"][0], [float(x[0, 0]) for x in trainer.optimizer.x])
        finally:
            trainer.close()
    (num, x_num), (spi, x_spi) = rows["numeric"], rows["spice"]
    assert all(x < 0.999 for x in x_num)                                     # every layer's cell adapted
    np.testing.assert_allclose(1 - np.array(x_spi), 1 - np.array(x_num), rtol=0.05)
    assert spi["lr"] == pytest.approx(num["lr"], rel=0.01)
    assert spi["energy_program_lr_cells_j"] == pytest.approx(num["energy_program_lr_cells_j"], rel=0.1)


def test_per_synapse_cells_at_spice_are_refused():
    with pytest.raises(ConfigError, match="per synapse"):
        LrCell(1.0, CELL, CAL, "synapse", 0.1, fidelity="spice")


def test_a_layer_of_several_tiles_shares_one_cell():
    """A layer cut into 2 x 2 tiles programs like one tile with the same cell: every tile's widths
    are times the stage's factor (the analytic formula), and the cell adapts once."""
    x0, steps = 0.5, _steps(np.random.default_rng(5))
    stage = LrStage(CELL, x0, replace(PARAMS, t_adapt=CAL.t_unit))
    factor = _formula(x0, PARAMS.r_f)
    scaled = tuple(PulseStep(s.rows, s.cols, s.row_widths * factor, s.col_widths * factor) for s in steps)
    with make_tile("numeric", 4, 3, device=ARRAY, states=np.full((4, 3), 0.5)) as plain:
        plain.program(PulseProgram(scaled))
        with make_tile("numeric", 4, 3, device=ARRAY, states=np.full((4, 3), 0.5), max_tile=(2, 2)) as layer:
            report = layer.program(PulseProgram(steps, stage))
            np.testing.assert_allclose(layer.states(), plain.states(), rtol=1e-12)
    once = stage.adapt_twin(0.0)["x"]
    assert [t["lr_cell"]["x"] for t in report.extra["tiles"] if "lr_cell" in t] == \
        [once, x0, x0, x0]   # the first tile's run adapts the cell, the others hold it
    assert report.extra["lr_cell"]["x"] == once < x0
