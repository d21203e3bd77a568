"""Frozen parameter classes of a crossbar tile and its periphery (SI units throughout).

One :class:`CrossbarSpec` describes the physical tile: size, cell type, wire resistance, drivers,
sense amplifiers and ADC. The generators (:mod:`memcircuit.circuits.crossbar`,
:mod:`memcircuit.circuits.netlists`) turn it into one circuit that both back ends read: the
ngspice writer and the nodal solver (:mod:`memcircuit.solvers.nodal`).

Topology (docs/DESIGN.md): rows are driven from the left end, columns sensed at the bottom end. One
wire resistance per segment, ``r_wire_row`` on the word lines (rows: driver to the first cell and
between neighbouring cells) and ``r_wire_col`` on the bit lines (columns: between neighbouring
cells and one more segment from the bottom column node to the sense amplifier). Cell (i, j)
sits between row node (i, j) and column node (i, j). A driver has an output resistance ``r_out``
in series with its first segment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

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


TIA_OPAMPS = ("behavioural", "transistor")


@dataclass(frozen=True)
class Periphery:
    """The periphery of every tile of a command or run, as flat SI options.

    The one list of periphery option names: ``memcircuit tile read/program``, ``train``,
    ``infer`` and sweep job specs take exactly these fields (``--opamp-gain`` is ``opamp_gain``),
    and :meth:`tile_kwargs` is the one place that turns them into tile keywords.

    * ``r_out``: driver output resistance (ohm);
    * ``sense``: ``"ideal"`` (0 V virtual ground) or ``"tia"``; ``r_f`` the TIA feedback
      resistance (ohm); ``tia_opamp``: ``"behavioural"`` (:class:`OpAmpParams`: ``opamp_gain``
      V/V, ``opamp_gbw`` Hz, output swing ``+-opamp_swing`` V) or ``"transistor"`` (the two-stage
      PTM 45 nm op-amp, spice and hybrid only);
    * ``adc_bits`` / ``adc_range``: ADC of the TIA output over ``+-adc_range`` V (None: no ADC);
    * ``input_bits`` / ``error_bits``: resolution of the input (forward) and error (backward) DACs.
    """

    r_out: float = 0.0
    sense: str = "ideal"
    r_f: float = 10e3
    opamp_gain: float = 1e5
    opamp_gbw: float = 10e6
    opamp_swing: float = 1.0
    tia_opamp: str = "behavioural"
    adc_bits: int | None = None
    adc_range: float = 1.0
    input_bits: int | None = None
    error_bits: int | None = None

    def __post_init__(self) -> None:
        if self.sense not in SENSES:
            raise ConfigError(f"sense must be one of {', '.join(SENSES)}, got {self.sense!r}")
        if self.tia_opamp not in TIA_OPAMPS:
            raise ConfigError(f"tia_opamp must be one of {', '.join(TIA_OPAMPS)}, got {self.tia_opamp!r}")
        _positive("op-amp output swing (V)", self.opamp_swing)
        _positive("ADC range (V)", self.adc_range)
        for name in ("input_bits", "error_bits"):
            bits = getattr(self, name)
            if bits is not None and (isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 24):
                raise ConfigError(f"{name} must be an integer in 2..24, got {bits!r}")
        if self.adc_bits is not None and self.sense != "tia":
            raise ConfigError("adc_bits (--adc-bits) digitises the TIA output: add sense tia (--sense tia)")
        if self.sense != "tia":
            default = Periphery.__dataclass_fields__
            stray = [n for n in _TIA_FIELDS if getattr(self, n) != default[n].default]
            if stray:
                raise ConfigError(f"{', '.join(stray)}: TIA options without a TIA; add sense tia (--sense tia)")
        self.tile_kwargs()        # the parameter classes check the numbers

    @classmethod
    def from_options(cls, options: dict) -> Periphery:
        """From option values that may be SI strings (``"10k"``) or numbers; unknown names refused."""
        from memcircuit.units import parse_si

        unknown = set(options) - set(PERIPHERY_FIELDS)
        if unknown:
            raise ConfigError(f"unknown periphery option(s): {', '.join(sorted(unknown))}")
        typed = {}
        for name, value in options.items():
            kind = PERIPHERY_FIELDS[name]
            if value is None or kind == "str":
                typed[name] = value
            elif "int" in kind:
                number = parse_si(value, name=name)
                if not float(number).is_integer():
                    raise ConfigError(f"{name} must be an integer, got {value!r}")
                typed[name] = int(number)
            else:
                typed[name] = parse_si(value, name=name)
        return cls(**typed)

    def tile_kwargs(self, dac_full_scale: float | None = None, backward: bool = False) -> dict:
        """:func:`memcircuit.tiles.make_tile` keywords (``sense``, ``tia``, ``adc``, ``driver``).

        The DAC bits go to the drivers only with ``dac_full_scale`` (V; a tile driven with
        voltages directly): the training and inference networks quantise activations and errors
        themselves before they become read voltages (``backward``: the error DAC drives)."""
        bits = (self.error_bits if backward else self.input_bits) if dac_full_scale else None
        return {"sense": self.sense,
                "tia": TiaParams(r_f=self.r_f, transistor=self.tia_opamp == "transistor",
                                 opamp=OpAmpParams(gain=self.opamp_gain, gbw=self.opamp_gbw,
                                                   v_low=-self.opamp_swing, v_high=self.opamp_swing)),
                "adc": None if self.adc_bits is None else AdcParams(self.adc_bits, -self.adc_range, self.adc_range),
                "driver": DriverParams(r_out=self.r_out, dac_bits=bits,
                                       v_full=dac_full_scale if bits is not None else 1.0)}

    def unsupported(self, fidelity: str) -> list[str]:
        """The options set here that ``fidelity`` cannot model (empty when all are modelled):
        ``ideal`` is ``G^T V`` without driver, TIA or ADC; ``numeric`` solves the behavioural
        op-amp only."""
        default = Periphery()
        if fidelity == "ideal":
            names = ("r_out", "sense", "adc_bits", *_TIA_FIELDS)
            return [n for n in names if getattr(self, n) != getattr(default, n)]
        if fidelity == "numeric" and self.sense == "tia" and self.tia_opamp == "transistor":
            return ["tia_opamp"]
        return []

    def require_modelled(self, fidelity: str) -> None:
        """:class:`ConfigError` naming the options set here that ``fidelity`` cannot model."""
        missing = self.unsupported(fidelity)
        if missing:
            names = ", ".join(f"{n} (--{n.replace('_', '-')})" for n in missing)
            why = ("it is G^T V with ideal drivers and sensing; use the numeric or spice fidelity"
                   if fidelity == "ideal" else "the transistor-level op-amp needs the spice or hybrid fidelity")
            raise ConfigError(f"the {fidelity} fidelity cannot model {names}: {why}")


_TIA_FIELDS = ("r_f", "opamp_gain", "opamp_gbw", "opamp_swing", "tia_opamp", "adc_range")
PERIPHERY_FIELDS: dict[str, str] = {f.name: str(f.type) for f in fields(Periphery)}
