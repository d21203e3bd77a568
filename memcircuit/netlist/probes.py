"""Typed handles to what a caller reads from a solved circuit.

Generators return probes with the circuit they build (the sense current of column k, the
current a driver delivers, the state of cell (i, j)); engines and solvers return values for them.
The ngspice vector name of a probe is spelled in one place, :func:`vector`, so nothing above the
writer and the engines builds result names.

Sign conventions follow ngspice: a :class:`Current` is the current flowing into the source's
first (+) node and through it (a source that delivers power has a negative current).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from memcircuit.netlist.ir import check_ident, check_node


def _path(path: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(check_ident(p, "instance path") for p in path)


@dataclass(frozen=True)
class Voltage:
    """Voltage (V) of ``node`` (to ground) inside the subcircuit instances ``path``."""

    node: str
    path: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_node(self.node)
        object.__setattr__(self, "path", _path(self.path))


@dataclass(frozen=True)
class Current:
    """Current (A) into the + node of voltage source ``source`` and through it."""

    source: str
    path: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_ident(self.source, "source name")
        object.__setattr__(self, "path", _path(self.path))


@dataclass(frozen=True)
class StateNode:
    """State of a device instance held on its internal node ``node``.

    ``instance`` is the element name as written (``Xd0_0``, ``Nd0_0``) inside the subcircuit
    instances ``path``. A behavioural subcircuit keeps the state itself on ``node``; a compiled
    (OSDI) module's internal node holds ``state - offset`` (it starts at 0 V), so its value is
    read as ``v + offset``."""

    instance: str
    node: str
    path: tuple[str, ...] = ()
    compiled: bool = False
    offset: float = 0.0

    def __post_init__(self) -> None:
        check_ident(self.instance, "instance name")
        check_ident(self.node, "state node")
        object.__setattr__(self, "path", _path(self.path))


Probe = Voltage | Current | StateNode


@functools.lru_cache(maxsize=1 << 16)
def vector(probe: Probe) -> str:
    """The ngspice result vector of ``probe`` (lower case, as :mod:`memcircuit.spice.result` names them)."""
    if isinstance(probe, Voltage):
        return f"v({'.'.join((*probe.path, probe.node))})".lower()
    if isinstance(probe, Current):
        return f"i({'.'.join((*probe.path, probe.source))})".lower()
    if isinstance(probe, StateNode):
        if probe.compiled:
            # ngspice names an OSDI instance inside subcircuits n.<path>.<instance>, its node <...>#<node>
            inst = ".".join(("n", *probe.path, probe.instance)) if probe.path else probe.instance
            return f"v({inst}#{probe.node})".lower()
        return f"v({'.'.join((*probe.path, probe.instance, probe.node))})".lower()
    raise TypeError(f"not a probe: {probe!r}")


def offset(probe: Probe) -> float:
    """What to add to the vector's values to get the probed quantity."""
    return probe.offset if isinstance(probe, StateNode) else 0.0
