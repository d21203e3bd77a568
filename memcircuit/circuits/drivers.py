"""Drivers: read DACs, programming pulse drivers (V/2 and V/3 half-select) and a CMOS inverter.

* :func:`dac_quantise`: what a DAC of finite resolution actually puts out.
* :func:`index_driver`: one B source per line whose value is ``pwl(V(idx), 0, v0, 1, v1, ...)``;
  a DC sweep of the index source ``Vidx`` over ``0..B-1`` then reads a batch of ``B`` input
  vectors in one ngspice run (docs/DESIGN.md, measured 2 Newton iterations per input).
  In a loaded libngspice worker the drivers are external sources instead (``values=None`` in
  :func:`driver_elements`): the netlist no longer holds the inputs, so it is parsed once and
  every later batch only sends new values.
* :func:`pulse_waveforms`: PWL waveforms of a pulse program for every row and column driver.
* :func:`half_select`: line voltages of the V/2 and V/3 schemes for one selected cell
  (Chen, IEEE TED 50(5), 2003; the schemes reviewed by Ielmini and Wong, Nature Electronics 1,
  2018): V/2 puts ``v`` on the selected cell, ``v/2`` on the half-selected cells of its row and
  column and 0 V elsewhere; V/3 puts ``v`` on the selected cell and ``+-v/3`` on all others.
* :func:`inverter_subckt`: a transistor-level CMOS inverter driver on the PTM 45 nm card.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from memcircuit.circuits.spec import DriverParams
from memcircuit.circuits.transistor import PTM45_NMOS, PTM45_PMOS
from memcircuit.errors import ConfigError
from memcircuit.netlist import BehavioralSource, Expr, External, ModelInstance, Pwl, Resistor, Subckt, VoltageSource
from memcircuit.units import format_spice

INDEX_SOURCE = "Vidx"
INDEX_NODE = "idx"
INVERTER_SUBCKT = "inv_ptm45"
SCHEMES = ("V/2", "V/3")


def dac_quantise(v: np.ndarray, p: DriverParams) -> np.ndarray:
    """Voltages a DAC with ``p.dac_bits`` over ``[-v_full, v_full]`` produces (unchanged if None)."""
    v = np.asarray(v, dtype=float)
    if p.dac_bits is None:
        return v
    lsb = 2 * p.v_full / (2**p.dac_bits - 1)
    clipped = np.clip(v, -p.v_full, p.v_full)
    return -p.v_full + lsb * np.round((clipped + p.v_full) / lsb)


def index_pwl_expr(values: Sequence[float]) -> Expr:
    """``pwl(V(idx), 0, v0, 1, v1, ...)``: value ``v_k`` when the index node sits at ``k`` V."""
    vals = [float(v) for v in values]
    if len(vals) == 1:  # pwl needs two points; a constant is the honest one-input form
        return Expr(format_spice(vals[0]) if vals[0] >= 0 else f"({format_spice(vals[0])})")
    pairs = ", ".join(f"{k}, {format_spice(v)}" for k, v in enumerate(vals))
    return Expr(f"pwl(V({INDEX_NODE}), {pairs})")


def index_source() -> VoltageSource:
    """The swept index source; sweep it with ``DcSweep('Vidx', 0, B - 1, 1)``."""
    return VoltageSource(INDEX_SOURCE, (INDEX_NODE, "0"), dc=0.0)


def index_driver(name: str, node: str, values: Sequence[float]) -> BehavioralSource:
    """A driver whose output at sweep point ``k`` is ``values[k]`` V (ideal, zero impedance)."""
    return BehavioralSource(name, (node, "0"), "V", index_pwl_expr(values))


def driver_elements(label: str, port: str, values: Sequence[float] | float | None, p: DriverParams) -> list:
    """Driver on ``port``: an ideal source plus ``r_out``. The source is DC for a number,
    index-swept for a sequence and external (values supplied by the host at every sweep point,
    :class:`memcircuit.netlist.External`) for ``None``.

    Names: ``B<label>``/``V<label>`` for the source and ``R<label>`` for the output resistance;
    with ``r_out = 0`` the source sits on the port itself.
    """
    inner = f"d_{label}" if p.r_out > 0 else port
    if values is None:
        source = VoltageSource(f"V{label}", (inner, "0"), wave=External())
    elif isinstance(values, (int, float)):
        source = VoltageSource(f"V{label}", (inner, "0"), dc=float(values))
    else:
        source = index_driver(f"B{label}", inner, values)
    out = [source]
    if p.r_out > 0:
        out.append(Resistor(f"R{label}", (inner, port), p.r_out))
    return out


def pulse_schedule(steps: Sequence, n_rows: int, n_cols: int, *, edge: float = 1e-9,
                   gap: float = 10e-9) -> tuple[list[list[tuple[float, float, float, float]]], np.ndarray]:
    """When every row and column driver pulses in a pulse program: per line (rows, then columns)
    the pulses ``(t0 s, edge s, amplitude V, width s)``, and the step start times.

    ``steps`` are objects with ``rows``, ``cols`` (V) and ``row_widths``, ``col_widths`` (s), as
    :class:`memcircuit.tiles.base.PulseStep`. Step ``k`` starts at ``starts[k]``, its pulses
    ``gap`` s later (steps are separated by ``gap`` s at 0 V); the last entry of ``starts`` is the
    end of the program. A pulse's edge is ``edge``, or a quarter of its width when shorter.
    """
    if edge <= 0 or gap < 0:
        raise ConfigError("pulse edges must be > 0 s and gaps >= 0 s")
    starts = np.zeros(len(steps))
    t = 0.0
    for k, s in enumerate(steps):
        if s.rows.size != n_rows or s.cols.size != n_cols:
            raise ConfigError(f"pulse step {k} drives {s.rows.size} rows x {s.cols.size} cols; the tile has "
                              f"{n_rows} x {n_cols}")
        starts[k] = t
        t += gap + s.duration + 2 * edge
    lines: list[list[tuple[float, float, float, float]]] = [[] for _ in range(n_rows + n_cols)]
    for k, s in enumerate(steps):
        for line, (a, w) in enumerate(zip(np.concatenate([s.rows, s.cols]),
                                          np.concatenate([s.row_widths, s.col_widths]))):
            if a != 0.0 and w > 0.0:
                lines[line].append((float(starts[k] + gap), min(edge, float(w) / 4), float(a), float(w)))
    return lines, np.append(starts, t + gap)


def pulse_waveforms(steps: Sequence, n_rows: int, n_cols: int, *, edge: float = 1e-9,
                    gap: float = 10e-9) -> tuple[list[Pwl], list[Pwl], np.ndarray]:
    """PWL waveforms for every row and column driver of a pulse program, and the step start times
    (:func:`pulse_schedule`). Every pulse rises in its edge time, stays flat and falls in its
    edge time so that its area is exactly amplitude x width (a rectangle of the requested width).
    """
    lines, starts = pulse_schedule(steps, n_rows, n_cols, edge=edge, gap=gap)

    def wave(pulses: list[tuple[float, float, float, float]]) -> Pwl:
        pts: list[tuple[float, float]] = [(0.0, 0.0)]
        for t0, e, a, w in pulses:
            pts += [(t0, 0.0), (t0 + e, a), (t0 + w, a), (t0 + w + e, 0.0)]
        pts.append((float(starts[-1]), 0.0))
        return Pwl(tuple(pts))

    waves = [wave(pulses) for pulses in lines]
    return waves[:n_rows], waves[n_rows:], starts


def half_select(n_rows: int, n_cols: int, row: int, col: int, v: float,
                scheme: str = "V/2") -> tuple[np.ndarray, np.ndarray]:
    """Row and column driver voltages that put ``v`` V across cell (row, col) only.

    V/2: selected row ``+v/2``, selected column ``-v/2``, all other lines 0 V (half-selected
    cells see ``v/2``, the rest 0 V). V/3: selected row ``v``, selected column 0 V, other rows
    ``v/3``, other columns ``2v/3`` (every unselected cell sees ``+-v/3``).
    """
    if scheme not in SCHEMES:
        raise ConfigError(f"half-select scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
    if not (0 <= row < n_rows and 0 <= col < n_cols):
        raise ConfigError(f"cell ({row}, {col}) is outside a {n_rows} x {n_cols} tile")
    if scheme == "V/2":
        rows, cols = np.zeros(n_rows), np.zeros(n_cols)
        rows[row], cols[col] = v / 2, -v / 2
    else:
        rows, cols = np.full(n_rows, v / 3), np.full(n_cols, 2 * v / 3)
        rows[row], cols[col] = v, 0.0
    return rows, cols


def inverter_subckt(name: str = INVERTER_SUBCKT, *, wn: float = 1e-6, wp: float = 2e-6,
                    length: float = 45e-9) -> Subckt:
    """CMOS inverter ``.subckt name in out vdd vss`` on the PTM 45 nm card (include
    :func:`memcircuit.circuits.transistor.ptm45_card`). Widths and length in m."""
    return Subckt(name, ("in", "out", "vdd", "vss"), (
        ModelInstance("Mp", ("out", "in", "vdd", "vdd"), PTM45_PMOS, (("w", wp), ("l", length))),
        ModelInstance("Mn", ("out", "in", "vss", "vss"), PTM45_NMOS, (("w", wn), ("l", length))),
    ))
