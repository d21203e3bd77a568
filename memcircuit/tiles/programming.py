"""Pulse programs: segments of a step, half-select programs, and the numeric-twin programmer."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import numpy as np

from memcircuit.circuits.drivers import half_select, pulse_schedule
from memcircuit.errors import ConfigError
from memcircuit.tiles.base import PulseProgram, PulseStep
from memcircuit.tiles.parts import Programmer


def segments(step: PulseStep) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """Split a step into intervals of constant driver voltages: ``[(duration s, rows V, cols V)]``.

    All pulses start together; a line drives its amplitude until its width ends, then 0 V.
    Intervals in which no line is driven are dropped.
    """
    ends = np.unique(np.concatenate([step.row_widths, step.col_widths]))
    ends = ends[ends > 0]
    out = []
    start = 0.0
    for end in ends:
        rows = np.where(step.row_widths >= end, step.rows, 0.0)
        cols = np.where(step.col_widths >= end, step.cols, 0.0)
        if rows.any() or cols.any():
            out.append((float(end - start), rows, cols))
        start = float(end)
    return out


def check_shape(program: PulseProgram, rows: int, cols: int) -> None:
    """:class:`ConfigError` unless every step drives ``rows`` rows and ``cols`` columns."""
    for k, step in enumerate(program.steps):
        if step.rows.size != rows or step.cols.size != cols:
            raise ConfigError(f"pulse step {k} drives {step.rows.size} rows x {step.cols.size} cols; "
                              f"the tile has {rows} x {cols}")


def count_pulses(program: PulseProgram) -> int:
    """Driver pulses fired: lines with a non-zero amplitude and a non-zero width, over all steps."""
    return int(sum(np.count_nonzero((s.rows != 0) & (s.row_widths > 0))
                   + np.count_nonzero((s.cols != 0) & (s.col_widths > 0)) for s in program.steps))


def half_select_program(rows: int, cols: int, cells: Iterable[tuple[int, int, float, float]],
                        scheme: str = "V/2") -> PulseProgram:
    """One step per ``(row, col, volts, seconds)``: ``volts`` across that cell with the V/2 or V/3
    scheme (:func:`memcircuit.circuits.drivers.half_select`), every driven line for ``seconds``."""
    steps = []
    for r, c, v, width in cells:
        rv, cv = half_select(rows, cols, r, c, v, scheme)
        steps.append(PulseStep(rv, cv, float(width), float(width)))
    return PulseProgram(tuple(steps))


def lr_scaled(program: PulseProgram, cell, side: str = "rows") -> PulseProgram:
    """The program with the ``side`` ("rows" or "cols") pulse amplitudes scaled by a
    :class:`~memcircuit.circuits.lrcell.LearningRateCell`, which then adapts once.

    The scaled side carries the error (amplitude-coded) half of an outer-product update, so the
    weight change is proportional to the cell's conductance: the learning rate."""
    if side not in ("rows", "cols"):
        raise ConfigError(f"side must be 'rows' or 'cols', got {side!r}")
    steps = tuple(PulseStep(cell.scale(s.rows) if side == "rows" else s.rows,
                            cell.scale(s.cols) if side == "cols" else s.cols,
                            s.row_widths, s.col_widths) for s in program.steps)
    cell.adapt()
    return PulseProgram(steps)


class TwinProgrammer(Programmer):
    """Every constant-voltage interval of every step with the device's numeric twin
    (``apply_pulse``) at the cell voltages the tile's solver gives: at the start of the interval
    (``tile.bias_refresh = "interval"``, ``tile.substeps`` times per interval; the solver's
    :meth:`~memcircuit.tiles.parts.TileSolver.bias_each` sees the cells moved between solves) or
    for a whole program at its starting states in one batched solve (``"program"``)."""

    name = "twin"

    def program(self, tile, program: PulseProgram):
        device = tile.device
        g_before = tile.conductances()
        energy = lost = 0.0
        stage = program.lr_stage
        steps = program.steps if stage is None else stage.gate(program.steps)
        intervals = [seg for step in steps for seg in segments(step)]
        drives = [(rows, cols) for _, rows, cols in intervals for _ in range(tile.substeps)]
        solves = tile.solver.bias_many(drives) if tile.batched_bias else tile.solver.bias_each(drives)
        with contextlib.closing(solves):  # a solver waiting for the next state is released
            for duration, _, _ in intervals:
                dt = duration / tile.substeps
                for _ in range(tile.substeps):
                    v_cell, power, loss = next(solves)
                    energy += power * dt
                    lost += loss * dt
                    hit = v_cell != 0
                    if hit.any():
                        # whole-array call (per-cell device parameters broadcast); cells at 0 V keep
                        # their state
                        moved = device.apply_pulse(tile._x, v_cell, dt, rng=tile.rng)
                        tile._x = np.where(hit, moved, tile._x)
                        tile._changed()
        extra = {}
        if stage is not None:   # the stage held while the drivers pulse (spice timing), then adapted
            extra["lr_cell"] = stage.adapt_twin(float(pulse_schedule(program.steps, tile.rows, tile.cols)[1][-1]),
                                                rng=tile.rng)
        return tile._program_report(g_before, program, energy, lost, extra)
