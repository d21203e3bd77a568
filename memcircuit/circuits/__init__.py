"""Netlist generators for crossbar tiles: crossbar arrays, drivers, sense amplifiers, ADCs and the
learning-rate cell, all from frozen parameter classes (:mod:`memcircuit.circuits.spec`)."""

from memcircuit.circuits.netlists import (
    Cells,
    bias_circuit,
    program_circuit,
    read_analysis,
    read_circuit,
    standalone_circuit,
)
from memcircuit.circuits.spec import AdcParams, CrossbarSpec, DriverParams, OpAmpParams, TiaParams, TransistorParams

__all__ = ["AdcParams", "Cells", "CrossbarSpec", "DriverParams", "OpAmpParams", "TiaParams", "TransistorParams",
           "bias_circuit", "program_circuit", "read_analysis", "read_circuit", "standalone_circuit"]
