"""The one ngspice writer for the netlist IR.

Numbers are spelled here and only here (:func:`memcircuit.units.format_spice`). KLU is switched
on in every netlist this toolkit writes: ngspice's default sparse solver is about 75x slower on
crossbars (docs/DESIGN.md).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence

from memcircuit.errors import NetlistError
from memcircuit.netlist.arrays import lower
from memcircuit.netlist.ir import (
    Analysis,
    BehavioralSource,
    Capacitor,
    Circuit,
    CurrentSource,
    DcSweep,
    Element,
    Expr,
    External,
    Model,
    ModelInstance,
    Op,
    Pulse,
    Pwl,
    Resistor,
    Sine,
    Subckt,
    SubcktInstance,
    Tran,
    Value,
    Vccs,
    Vcvs,
    VoltageSource,
    Waveform,
)
from memcircuit.units import format_spice

ALWAYS_OPTIONS = ("klu",)
_LINE = 200  # continue long lines with '+' so ngspice's line buffer is never a concern


def value(v: Value) -> str:
    """Spell a number or expression for a netlist."""
    if isinstance(v, Expr):
        return "{" + v.text + "}"
    if isinstance(v, str):
        return v
    return format_spice(v)


def _params(params: Iterable[tuple[str, Value]]) -> str:
    return " ".join(f"{k}={value(v)}" for k, v in params)


def waveform(w: Waveform) -> str:
    if isinstance(w, Pulse):
        args = (w.v1, w.v2, w.delay, w.rise, w.fall, w.width) + ((w.period,) if w.period else ())
        return "PULSE(" + " ".join(format_spice(a) for a in args) + ")"
    if isinstance(w, Pwl):
        return "PWL(" + " ".join(f"{format_spice(t)} {format_spice(v)}" for t, v in w.points) + ")"
    if isinstance(w, Sine):
        args = (w.offset, w.amplitude, w.freq, w.delay, w.damping)
        return "SIN(" + " ".join(format_spice(a) for a in args) + ")"
    if isinstance(w, External):
        raise NetlistError("only voltage sources can be external here")
    raise NetlistError(f"unknown waveform {w!r}")


def element(e: Element) -> str:
    nodes = " ".join(e.nodes)
    if isinstance(e, Resistor):
        if isinstance(e.resistance, Expr):
            return f"{e.name} {nodes} r={value(e.resistance)}"
        return f"{e.name} {nodes} {value(e.resistance)}"
    if isinstance(e, Capacitor):
        ic = f" ic={format_spice(e.ic)}" if e.ic is not None else ""
        return f"{e.name} {nodes} {value(e.capacitance)}{ic}"
    if isinstance(e, VoltageSource) and isinstance(e.wave, External):
        return f"{e.name} {nodes} external"  # no DC value: ngspice would sweep that instead
    if isinstance(e, (VoltageSource, CurrentSource)):
        wave = f" {waveform(e.wave)}" if e.wave is not None else ""
        return f"{e.name} {nodes} DC {format_spice(e.dc)}{wave}"
    if isinstance(e, BehavioralSource):
        return f"{e.name} {nodes} {e.kind}={value(e.expr)}"
    if isinstance(e, Vcvs):
        return f"{e.name} {nodes} {value(e.gain)}"
    if isinstance(e, Vccs):
        return f"{e.name} {nodes} {value(e.gm)}"
    if isinstance(e, ModelInstance):
        return " ".join(filter(None, (e.name, nodes, e.model, _params(e.params))))
    if isinstance(e, SubcktInstance):
        return " ".join(filter(None, (e.name, nodes, e.subckt, _params(e.params))))
    raise NetlistError(f"the writer does not know element type {type(e).__name__}")


def model(m: Model) -> str:
    return f".model {m.name} {m.type}" + (f" ({_params(m.params)})" if m.params else "")


# Written subcircuits by object identity: the IR is immutable, so a definition written once (a
# tile's crossbar, re-read with every input batch) never needs writing again. Entries go with
# their object.
_SUBCKT_LINES: dict[int, list[str]] = {}


def subckt(s: Subckt) -> list[str]:
    """The ``.subckt`` ... ``.ends`` lines of ``s`` (cached for the life of the object)."""
    key = id(s)
    lines = _SUBCKT_LINES.get(key)
    if lines is None:
        lines = _write_subckt(s)
        _SUBCKT_LINES[key] = lines
        weakref.finalize(s, _SUBCKT_LINES.pop, key, None)
    return list(lines)


def _write_subckt(s: Subckt) -> list[str]:
    head = f".subckt {s.name} {' '.join(s.ports)}"
    if s.params:
        head += " params: " + _params(s.params)
    lines = [head]
    lines += [model(m) for m in s.models]
    lines += [element(e) for e in lower(s.elements)]
    lines.append(f".ends {s.name}")
    return lines


def analysis(a: Analysis) -> str:
    """The analysis as an interactive command (same spelling as the dot card without the dot)."""
    if isinstance(a, Op):
        return "op"
    if isinstance(a, Tran):
        words = ["tran", format_spice(a.step), format_spice(a.stop)]
        if a.start or a.max_step is not None:
            words.append(format_spice(a.start))
        if a.max_step is not None:
            words.append(format_spice(a.max_step))
        if a.uic:
            words.append("uic")
        return " ".join(words)
    if isinstance(a, DcSweep):
        return f"dc {a.source.lower()} {format_spice(a.start)} {format_spice(a.stop)} {format_spice(a.step)}"
    raise NetlistError(f"unknown analysis {a!r}")


def _fold(line: str) -> list[str]:
    """Split over-long lines at spaces into '+' continuation lines."""
    if len(line) <= _LINE:
        return [line]
    out: list[str] = []
    current = ""
    for word in line.split(" "):
        if current and len(current) + 1 + len(word) > _LINE:
            out.append(current)
            current = "+ " + word
        else:
            current = f"{current} {word}" if current else word
    out.append(current)
    return out


def write(
    circuit: Circuit,
    *,
    analyses: Sequence[Analysis] = (),
    control: Sequence[str] | None = None,
    extra_options: Iterable[tuple[str, Value]] = (),
) -> str:
    """The ngspice netlist text of ``circuit``.

    ``analyses`` become dot cards; ``control`` lines (written by the engines, never by users)
    become a ``.control`` block, in which case OSDI modules are loaded there with ``pre_osdi``.
    """
    lines = [f"* {circuit.title}" if circuit.title else "* memcircuit netlist"]
    for path in circuit.includes:
        lines.append(f'.include "{path}"')
    if circuit.params:
        lines.append(".param " + _params(circuit.params))
    lines += [model(m) for m in circuit.models]
    for s in circuit.subckts:
        lines += subckt(s)
    lines += [element(e) for e in lower(circuit.elements)]
    options = dict((k.lower(), v) for k, v in circuit.options)
    options.update((k.lower(), v) for k, v in extra_options)
    opt_words = list(ALWAYS_OPTIONS) + [f"{k}={value(v)}" for k, v in options.items() if k not in ALWAYS_OPTIONS]
    lines.append(".options " + " ".join(opt_words))
    if circuit.saves:
        lines.append(".save " + " ".join(circuit.saves))
    lines += ["." + analysis(a) for a in analyses]
    if control is not None or circuit.osdi:
        lines.append(".control")
        lines += [f"pre_osdi {path}" for path in circuit.osdi]
        lines += list(control or ())
        lines.append(".endc")
    lines.append(".end")
    return "\n".join(folded for line in lines for folded in _fold(line)) + "\n"
