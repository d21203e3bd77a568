"""Pulse-program helpers shared by the fidelities: segments of a step, half-select programs."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from memcircuit.circuits.drivers import half_select
from memcircuit.errors import ConfigError
from memcircuit.tiles.base import PulseProgram, PulseStep


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
