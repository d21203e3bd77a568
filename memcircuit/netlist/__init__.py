"""Netlist IR (immutable dataclasses), identifier sanitising and the ngspice writer."""

from memcircuit.netlist.ir import (
    GROUND,
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
    Vccs,
    Vcvs,
    VoltageSource,
)
from memcircuit.netlist.names import sanitize
from memcircuit.netlist.writer import write

__all__ = [
    "GROUND", "Analysis", "BehavioralSource", "Capacitor", "Circuit", "CurrentSource", "DcSweep",
    "Element", "Expr", "External", "Model", "ModelInstance", "Op", "Pulse", "Pwl", "Resistor", "Sine",
    "Subckt", "SubcktInstance", "Tran", "Vccs", "Vcvs", "VoltageSource", "sanitize", "write",
]
