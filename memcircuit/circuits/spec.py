"""Frozen parameter classes of a crossbar tile and its periphery (SI units throughout).

One :class:`CrossbarSpec` describes the physical tile: size, cell type, wire resistance, drivers,
sense amplifiers and ADC. The netlist generators (:mod:`memcircuit.circuits.netlists`) and the
numeric nodal solver (:mod:`memcircuit.tiles.nodal`) both read it, so that every fidelity
simulates the same topology.

Topology (docs/DESIGN.md): rows are driven from the left end, columns sensed at the bottom end. One
wire resistance per segment, ``r_wire_row`` on the word lines (rows: driver to the first cell and
between neighbouring cells) and ``r_wire_col`` on the bit lines (columns: between neighbouring
cells and one more segment from the bottom column node to the sense amplifier). Cell (i, j)
sits between row node (i, j) and column node (i, j). A driver has an output resistance ``r_out``
in series with its first segment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from memcircuit.errors import ConfigError

CELLS = ("1R", "1T1R")
SENSES = ("ideal", "tia")
SIGNED = ("differential", "reference")


def _positive(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a finite number > 0, got {value!r}")


def _nonnegative(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True)
class OpAmpParams:
    """Behavioural voltage-feedback op-amp: finite DC gain, one pole, soft output saturation.

    A reduced form of the Boyle macromodel (Boyle, Cohn, Pederson and Solomon, IEEE JSSC 9(6),
    1974): a transconductance into an RC node sets the open-loop gain ``gain`` (V/V) and the
    dominant pole ``gbw / gain`` (Hz); the output is that node's voltage passed through a smooth
    clamp to ``[v_low, v_high]`` V whose knee is ``smooth`` V wide (softplus form, so Newton
    iterations see a continuous derivative). Far from the rails (more than ~20 ``smooth``) the
    output equals ``gain * (v+ - v-)`` to machine precision.
    """

    gain: float = 1e5
    gbw: float = 10e6
    v_low: float = -1.0
    v_high: float = 1.0
    smooth: float = 1e-3

    def __post_init__(self) -> None:
        _positive("op-amp gain", self.gain)
        _positive("op-amp gain-bandwidth (Hz)", self.gbw)
        _positive("op-amp saturation knee (V)", self.smooth)
        if not self.v_low < self.v_high:
            raise ConfigError(f"op-amp swing needs v_low < v_high, got {self.v_low} .. {self.v_high} V")


@dataclass(frozen=True)
class TiaParams:
    """Transimpedance amplifier: op-amp with feedback resistor ``r_f`` (ohm), + input at 0 V.

    The read-out reports the current the TIA infers, ``-V_out / r_f`` (A): it carries the
    finite-gain error ``1 / (1 + A*beta)`` and the output saturation (Sedra and Smith,
    Microelectronic Circuits, 7th ed., 2015, sec. 2.2 and 2.8). ``transistor`` selects the
    transistor-level two-stage op-amp on the PTM 45 nm card instead of the behavioural one
    (ngspice fidelities only).
    """

    r_f: float = 10e3
    opamp: OpAmpParams = field(default_factory=OpAmpParams)
    transistor: bool = False

    def __post_init__(self) -> None:
        _positive("TIA feedback resistance (ohm)", self.r_f)


@dataclass(frozen=True)
class AdcParams:
    """Uniform mid-tread quantiser of the TIA output voltage: ``bits`` over ``[v_low, v_high]`` V."""

    bits: int = 8
    v_low: float = -1.0
    v_high: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.bits, int) or not 1 <= self.bits <= 24:
            raise ConfigError(f"ADC bits must be an integer in 1..24, got {self.bits!r}")
        if not self.v_low < self.v_high:
            raise ConfigError(f"ADC range needs v_low < v_high, got {self.v_low} .. {self.v_high} V")

    @property
    def lsb(self) -> float:
        """Quantisation step in V."""
        return (self.v_high - self.v_low) / (2**self.bits - 1)


@dataclass(frozen=True)
class DriverParams:
    """Row/column drivers (DACs): output resistance ``r_out`` (ohm) and optional resolution.

    With ``dac_bits`` set, requested voltages are rounded to the nearest of ``2**dac_bits``
    levels spanning ``[-v_full, +v_full]`` V and clipped to that range.
    """

    r_out: float = 0.0
    dac_bits: int | None = None
    v_full: float = 1.0

    def __post_init__(self) -> None:
        _nonnegative("driver output resistance (ohm)", self.r_out)
        _positive("DAC full-scale voltage", self.v_full)
        if self.dac_bits is not None and (not isinstance(self.dac_bits, int) or not 1 <= self.dac_bits <= 24):
            raise ConfigError(f"DAC bits must be an integer in 1..24, got {self.dac_bits!r}")


@dataclass(frozen=True)
class TransistorParams:
    """Access transistor of a 1T1R cell: an NMOS with its gate on the row's word line.

    ``model`` ``"level1"`` is the Shichman-Hodges square-law MOSFET (IEEE JSSC 3(3), 1968), which
    ngspice implements as MOS level 1 and the numeric solver implements with the same equations
    (threshold ``vto`` V, transconductance ``kp`` A/V^2, channel-length modulation ``lam`` 1/V,
    width ``w`` and length ``l`` m). ``"ptm45"`` uses the PTM 45 nm high-performance BSIM4 card
    that ships with ngspice (Zhao and Cao, IEEE TED 53(11), 2006); ngspice fidelities only.
    The bulk is tied to ground (p-substrate) with negligible junction leakage (``is`` = 1e-30 A),
    the drain is on the cell-element side and the source on the column side. ``v_gate`` (V) is
    the word-line voltage during reads and programming.
    """

    model: str = "level1"
    vto: float = 0.4
    kp: float = 200e-6
    lam: float = 0.0
    w: float = 1e-6
    l: float = 100e-9  # noqa: E741 - the MOSFET's channel length has been L since 1968
    v_gate: float = 1.0

    def __post_init__(self) -> None:
        if self.model not in ("level1", "ptm45"):
            raise ConfigError(f"transistor model must be 'level1' or 'ptm45', got {self.model!r}")
        _positive("transistor kp (A/V^2)", self.kp)
        _positive("transistor width (m)", self.w)
        _positive("transistor length (m)", self.l)
        _nonnegative("transistor lambda (1/V)", self.lam)

    @property
    def beta(self) -> float:
        """Gain factor ``kp * w / l`` in A/V^2."""
        return self.kp * self.w / self.l


@dataclass(frozen=True)
class CrossbarSpec:
    """The physical tile: ``rows`` x ``cols`` cells plus periphery.

    ``r_wire`` (ohm per segment, rows and columns), ``r_wire_row`` / ``r_wire_col`` (word-line /
    bit-line segments alone; each, when given, replaces ``r_wire`` on its lines: read the
    effective values from :attr:`wire_row` and :attr:`wire_col`; 0 is an ideal wire) and
    ``c_wire`` (F from every row and column node to ground, transient only) are the interconnect
    parasitics; ``cell`` is ``"1R"`` (the
    cell element alone) or ``"1T1R"`` (cell element in series with an access transistor, the
    transistor on the column side); ``sense`` is ``"ideal"`` (0 V virtual ground, the current is
    measured exactly) or ``"tia"`` (behavioural or transistor op-amp, see :class:`TiaParams`).
    """

    rows: int
    cols: int
    r_wire: float = 0.0
    c_wire: float = 0.0
    cell: str = "1R"
    sense: str = "ideal"
    driver: DriverParams = field(default_factory=DriverParams)
    tia: TiaParams = field(default_factory=TiaParams)
    adc: AdcParams | None = None
    transistor: TransistorParams = field(default_factory=TransistorParams)
    r_wire_row: float | None = None
    r_wire_col: float | None = None

    def __post_init__(self) -> None:
        for name in ("rows", "cols"):
            n = getattr(self, name)
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {n!r}")
        _nonnegative("wire resistance r_wire (ohm)", self.r_wire)
        for name in ("r_wire_row", "r_wire_col"):
            if getattr(self, name) is not None:
                _nonnegative(f"wire resistance {name} (ohm)", getattr(self, name))
        _nonnegative("wire capacitance c_wire (F)", self.c_wire)
        if self.cell not in CELLS:
            raise ConfigError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        if self.sense not in SENSES:
            raise ConfigError(f"sense must be one of {', '.join(SENSES)}, got {self.sense!r}")
        if self.adc is not None and self.sense != "tia":
            raise ConfigError("an ADC digitises the TIA output: use sense='tia' with an ADC")

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows, self.cols

    @property
    def wire_row(self) -> float:
        """Ohm per word-line (row) segment."""
        return float(self.r_wire if self.r_wire_row is None else self.r_wire_row)

    @property
    def wire_col(self) -> float:
        """Ohm per bit-line (column) segment."""
        return float(self.r_wire if self.r_wire_col is None else self.r_wire_col)

    @property
    def ideal_wires(self) -> bool:
        """True when neither rows nor columns have wire resistance."""
        return self.wire_row == 0 and self.wire_col == 0
