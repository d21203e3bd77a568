"""Netlist intermediate representation: immutable, typed, simulator-neutral.

A :class:`Circuit` holds elements, subcircuit definitions, models, parameters and OSDI modules.
Every name in it is checked against :data:`IDENT` when the object is made, so nothing that is not
a plain identifier can reach a netlist; user text must go through
:func:`memcircuit.netlist.names.sanitize` first. Numbers are SI floats; the writer
(:mod:`memcircuit.netlist.writer`) alone decides how they are spelled.

Element names are full SPICE names and must start with their element letter (``R1``, ``Vin``,
``Xcell_0_0``, ``Nmem``), so that result vectors carry predictable names (``i(vin)``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from memcircuit.errors import NetlistError

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NODE = re.compile(r"^[A-Za-z0-9_]+$")
_EXPR_FORBIDDEN = re.compile(r"[\n\r;\"'`$\\]")

GROUND = "0"


def check_ident(name: str, what: str = "name") -> str:
    if not isinstance(name, str) or not IDENT.match(name):
        raise NetlistError(f"{what} {name!r} is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)")
    return name


def check_node(name: str) -> str:
    if not isinstance(name, str) or not NODE.match(name):
        raise NetlistError(f"node {name!r} is not a plain node name ([A-Za-z0-9_]+)")
    return name


@dataclass(frozen=True)
class Expr:
    """A SPICE expression built by code (never by user text), written inside ``{...}``.

    Identifiers in it must be parameters, ``V(node)``/``I(source)`` accesses or functions.
    """

    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise NetlistError("empty expression")
        if _EXPR_FORBIDDEN.search(self.text):
            raise NetlistError(f"expression contains a forbidden character: {self.text!r}")
        if self.text.count("(") != self.text.count(")") or self.text.count("{") != self.text.count("}"):
            raise NetlistError(f"unbalanced brackets in expression: {self.text!r}")


Value = float | int | Expr | str  # str: a bare word such as an option value ("gear")


def _check_value(value: Value, what: str) -> Value:
    if isinstance(value, str):
        return check_ident(value, f"{what} (word value)")
    if isinstance(value, bool) or not isinstance(value, (int, float, Expr)):
        raise NetlistError(f"{what}: expected a number, a word or an Expr, got {value!r}")
    return value


def _params(params: Mapping[str, Value] | Iterable[tuple[str, Value]] | None) -> tuple[tuple[str, Value], ...]:
    items = params.items() if isinstance(params, Mapping) else (params or ())
    out = tuple((check_ident(k, "parameter"), _check_value(v, f"parameter {k}")) for k, v in items)
    names = [k.lower() for k, _ in out]
    if len(set(names)) != len(names):
        raise NetlistError(f"duplicate parameter names in {names}")
    return out


# ----------------------------------------------------------------------------- source waveforms


@dataclass(frozen=True)
class Pulse:
    """SPICE PULSE(v1 v2 delay rise fall width period); seconds and volts (or amperes)."""

    v1: float
    v2: float
    delay: float = 0.0
    rise: float = 1e-9
    fall: float = 1e-9
    width: float = 1e-6
    period: float = 0.0  # 0 = a single pulse

    def __post_init__(self) -> None:
        if min(self.rise, self.fall, self.width, self.delay, self.period) < 0:
            raise NetlistError(f"pulse times must be >= 0: {self}")


@dataclass(frozen=True)
class Pwl:
    """Piece-wise linear waveform: ``points`` are (time s, value) with non-decreasing times."""

    points: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        pts = tuple((float(t), float(v)) for t, v in self.points)
        if not pts:
            raise NetlistError("PWL needs at least one point")
        times = [t for t, _ in pts]
        if any(b < a for a, b in zip(times, times[1:])):
            raise NetlistError("PWL times must be non-decreasing")
        object.__setattr__(self, "points", pts)


@dataclass(frozen=True)
class Sine:
    """SPICE SIN(offset amplitude freq delay damping); Hz, seconds."""

    offset: float
    amplitude: float
    freq: float
    delay: float = 0.0
    damping: float = 0.0

    def __post_init__(self) -> None:
        if self.freq <= 0:
            raise NetlistError(f"sine frequency must be > 0 Hz, got {self.freq}")


@dataclass(frozen=True)
class External:
    """A source whose value the host program supplies at every matrix load (libngspice's
    ``GetVSRCData`` callback; ngspice syntax ``V1 n+ n- external``). Only the shared engine can
    run it: :meth:`memcircuit.spice.SharedEngine.run` takes the values per sweep point."""


Waveform = Pulse | Pwl | Sine | External


# ----------------------------------------------------------------------------- elements


@dataclass(frozen=True)
class Element:
    """Base class: a named element connected to ``nodes``."""

    name: str
    nodes: tuple[str, ...]

    letter = ""  # SPICE element letter; subclasses set it

    def __post_init__(self) -> None:
        check_ident(self.name, "element name")
        if self.letter and not self.name[0].upper() == self.letter:
            raise NetlistError(f"{type(self).__name__} name {self.name!r} must start with {self.letter!r}")
        object.__setattr__(self, "nodes", tuple(check_node(n) for n in self.nodes))


@dataclass(frozen=True)
class Resistor(Element):
    """Linear resistor, ohms (an Expr value makes it a behavioural resistor)."""

    resistance: Value = 1.0
    letter = "R"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_value(self.resistance, self.name)
        if len(self.nodes) != 2:
            raise NetlistError(f"{self.name}: a resistor has 2 nodes")
        if isinstance(self.resistance, (int, float)) and self.resistance <= 0:
            raise NetlistError(f"{self.name}: resistance must be > 0 ohm, got {self.resistance}")


@dataclass(frozen=True)
class Capacitor(Element):
    """Linear capacitor, farads; ``ic`` is the initial voltage (volts) used with ``uic``."""

    capacitance: Value = 1e-12
    ic: float | None = None
    letter = "C"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_value(self.capacitance, self.name)
        if len(self.nodes) != 2:
            raise NetlistError(f"{self.name}: a capacitor has 2 nodes")


@dataclass(frozen=True)
class VoltageSource(Element):
    """Independent voltage source: ``dc`` volts plus an optional transient waveform."""

    dc: float = 0.0
    wave: Waveform | None = None
    letter = "V"

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.nodes) != 2:
            raise NetlistError(f"{self.name}: a source has 2 nodes")
        if isinstance(self.wave, External) and self.dc != 0.0:
            raise NetlistError(f"{self.name}: an external source takes no DC value (the host supplies it)")


@dataclass(frozen=True)
class CurrentSource(Element):
    """Independent current source from nodes[0] through the source to nodes[1], amperes."""

    dc: float = 0.0
    wave: Waveform | None = None
    letter = "I"

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.nodes) != 2:
            raise NetlistError(f"{self.name}: a source has 2 nodes")


@dataclass(frozen=True)
class BehavioralSource(Element):
    """ngspice B source: ``kind`` 'V' (voltage) or 'I' (current) given by ``expr``."""

    kind: str = "V"
    expr: Expr = field(default_factory=lambda: Expr("0"))
    letter = "B"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kind not in ("V", "I"):
            raise NetlistError(f"{self.name}: B source kind must be 'V' or 'I'")
        if not isinstance(self.expr, Expr):
            raise NetlistError(f"{self.name}: expr must be an Expr")
        if len(self.nodes) != 2:
            raise NetlistError(f"{self.name}: a B source has 2 nodes")


@dataclass(frozen=True)
class Vcvs(Element):
    """E source: V(out+, out-) = gain * V(in+, in-); nodes = (out+, out-, in+, in-)."""

    gain: Value = 1.0
    letter = "E"

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.nodes) != 4:
            raise NetlistError(f"{self.name}: a VCVS has 4 nodes")


@dataclass(frozen=True)
class Vccs(Element):
    """G source: I(out+ -> out-) = gm * V(in+, in-) siemens; nodes = (out+, out-, in+, in-)."""

    gm: Value = 1.0
    letter = "G"

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.nodes) != 4:
            raise NetlistError(f"{self.name}: a VCCS has 4 nodes")


@dataclass(frozen=True)
class ModelInstance(Element):
    """An element that refers to a ``.model``: diodes (D), MOSFETs (M) and OSDI devices (N)."""

    model: str = ""
    params: tuple[tuple[str, Value], ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.name[0].upper() not in "DMNQ":
            raise NetlistError(f"{self.name}: model instances start with D, M, N or Q")
        check_ident(self.model, "model name")
        object.__setattr__(self, "params", _params(self.params))


@dataclass(frozen=True)
class SubcktInstance(Element):
    """X instance of a subcircuit (by name), with parameter overrides."""

    subckt: str = ""
    params: tuple[tuple[str, Value], ...] = ()
    letter = "X"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_ident(self.subckt, "subcircuit name")
        object.__setattr__(self, "params", _params(self.params))


# ----------------------------------------------------------------------------- containers


@dataclass(frozen=True)
class Model:
    """``.model name type (params)``; ``type`` is a SPICE model type or an OSDI module name."""

    name: str
    type: str
    params: tuple[tuple[str, Value], ...] = ()

    def __post_init__(self) -> None:
        check_ident(self.name, "model name")
        check_ident(self.type, "model type")
        object.__setattr__(self, "params", _params(self.params))


@dataclass(frozen=True)
class Subckt:
    """``.subckt name ports params: ...`` with its own elements and models."""

    name: str
    ports: tuple[str, ...]
    elements: tuple[Element, ...]
    params: tuple[tuple[str, Value], ...] = ()
    models: tuple[Model, ...] = ()

    def __post_init__(self) -> None:
        check_ident(self.name, "subcircuit name")
        object.__setattr__(self, "ports", tuple(check_node(p) for p in self.ports))
        object.__setattr__(self, "elements", tuple(self.elements))
        object.__setattr__(self, "models", tuple(self.models))
        object.__setattr__(self, "params", _params(self.params))
        _unique([e.name for e in self.elements], f"subcircuit {self.name}")


@dataclass(frozen=True)
class Circuit:
    """A whole netlist: top-level elements plus the definitions they use.

    ``osdi`` lists compiled Verilog-A modules (paths to ``.osdi`` files) that the engines load
    before the netlist; ``includes`` lists model-card files (e.g. a transistor library).
    """

    title: str
    elements: tuple[Element, ...] = ()
    subckts: tuple[Subckt, ...] = ()
    models: tuple[Model, ...] = ()
    params: tuple[tuple[str, Value], ...] = ()
    options: tuple[tuple[str, Value], ...] = ()
    osdi: tuple[str, ...] = ()
    includes: tuple[str, ...] = ()
    saves: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.title, str) or "\n" in self.title or "\r" in self.title:
            raise NetlistError("title must be a single line")
        object.__setattr__(self, "elements", tuple(self.elements))
        object.__setattr__(self, "subckts", _dedupe(self.subckts, "subcircuit"))
        object.__setattr__(self, "models", _dedupe(self.models, "model"))
        object.__setattr__(self, "params", _params(self.params))
        object.__setattr__(self, "options", _params(self.options))
        object.__setattr__(self, "osdi", tuple(dict.fromkeys(str(p) for p in self.osdi)))
        object.__setattr__(self, "includes", tuple(dict.fromkeys(str(p) for p in self.includes)))
        for path in self.osdi + self.includes:
            if any(c in path for c in "\n\r\"'"):
                raise NetlistError(f"unsafe path {path!r}")
        object.__setattr__(self, "saves", tuple(dict.fromkeys(str(v).lower() for v in self.saves)))
        for vector in self.saves:
            if not _SAVE.match(vector):
                raise NetlistError(f"cannot save {vector!r}: use v(node) or i(vsource) with sanitised names")
        _unique([e.name for e in self.elements], "circuit")
        for sub in self.subckts:
            if any(isinstance(getattr(e, "wave", None), External) for e in sub.elements):
                raise NetlistError(f"subcircuit {sub.name}: external sources belong at the top level")

    @functools.cached_property
    def external_sources(self) -> tuple[str, ...]:
        """Lower-case names of the top-level sources whose values the host supplies (computed
        once: the circuit is immutable, and every batch of a read or bias sweep asks)."""
        return tuple(e.name.lower() for e in self.elements if isinstance(getattr(e, "wave", None), External))

    def with_saves(self, *vectors) -> Circuit:
        """A copy that keeps only these result vectors (``.save``; none given = ngspice saves all):
        probes (:mod:`memcircuit.netlist.probes`) or vector names.

        Reads of large tiles need a few sensed vectors out of thousands of nodes: saving only
        those spares ngspice storing every node at every sweep point."""
        from memcircuit.netlist.probes import vector

        names = tuple(v if isinstance(v, str) else vector(v) for v in vectors)
        return _replace(self, saves=self.saves + names)

    def with_elements(self, *elements: Element) -> Circuit:
        """A copy with more top-level elements."""
        return _replace(self, elements=self.elements + tuple(elements))

    def merge(self, other: Circuit) -> Circuit:
        """A copy with another circuit's elements and definitions added (names must not clash)."""
        return _replace(
            self,
            elements=self.elements + other.elements,
            subckts=self.subckts + other.subckts,
            models=self.models + other.models,
            params=self.params + other.params,
            osdi=self.osdi + other.osdi,
            includes=self.includes + other.includes,
            saves=self.saves + other.saves,
        )

    def element(self, name: str) -> Element:
        for e in self.elements:
            if e.name.lower() == name.lower():
                return e
        raise KeyError(name)


_SAVE = re.compile(r"^[vi]\([a-z0-9_.#]+\)$")


def _replace(obj, **changes):
    from dataclasses import replace

    return replace(obj, **changes)


def _unique(names: list[str], where: str) -> None:
    seen: set[str] = set()
    for n in names:
        key = n.lower()
        if key in seen:
            raise NetlistError(f"duplicate element name {n!r} in {where}")
        seen.add(key)


def _dedupe(items, what: str) -> tuple:
    """Identical definitions may repeat (two generators needing one subckt); clashes may not."""
    by_name: dict[str, object] = {}
    for item in items:
        key = item.name.lower()
        if key in by_name and by_name[key] != item:
            raise NetlistError(f"two different {what} definitions named {item.name!r}")
        by_name.setdefault(key, item)
    return tuple(by_name.values())


# ----------------------------------------------------------------------------- analyses


@dataclass(frozen=True)
class Op:
    """DC operating point."""


@dataclass(frozen=True)
class Tran:
    """Transient analysis: ``step`` and ``stop`` in seconds; ``max_step`` caps the internal step."""

    step: float
    stop: float
    start: float = 0.0
    max_step: float | None = None
    uic: bool = False

    def __post_init__(self) -> None:
        if not (self.step > 0 and self.stop > 0):
            raise NetlistError(f"tran needs step > 0 and stop > 0 (got {self.step}, {self.stop})")
        if self.step > self.stop:
            raise NetlistError(f"tran step {self.step} s is longer than stop {self.stop} s")
        if not 0 <= self.start < self.stop:
            raise NetlistError("tran start must be in [0, stop)")
        if self.max_step is not None and self.max_step <= 0:
            raise NetlistError("tran max_step must be > 0")


@dataclass(frozen=True)
class DcSweep:
    """DC sweep of one independent source from ``start`` to ``stop`` in ``step`` increments."""

    source: str
    start: float
    stop: float
    step: float

    def __post_init__(self) -> None:
        check_ident(self.source, "swept source")
        if self.step == 0 or (self.stop - self.start) / self.step < 0:
            raise NetlistError("DC sweep step must move from start towards stop")


Analysis = Op | Tran | DcSweep
