"""Transistor-level op-amp on the PTM 45 nm card: a two-stage Miller-compensated amplifier.

NMOS input pair with PMOS current-mirror load, PMOS common-source second stage with NMOS current
sink, Miller capacitor with nulling resistor (Allen and Holberg, CMOS Analog Circuit Design,
3rd ed., 2012, sec. 6.3). Long channels (0.5 um) for gain; supplies +-0.9 V inside the
subcircuit (above the card's nominal 1.0 V total, chosen for headroom around a 0 V virtual
ground); 20 uA reference. Measured in ngspice 46 with a 10 kohm load: open-loop gain about
1.2e3, output swing about +-0.75 V, input offset below 0.1 mV. Ports ``inp inn out`` as the
behavioural op-amp, so it is a drop-in TIA amplifier (ngspice fidelities only).
"""

from __future__ import annotations

from memcircuit.circuits.transistor import PTM45_NMOS, PTM45_PMOS, ptm45_card
from memcircuit.netlist import Capacitor, CurrentSource, ModelInstance, Resistor, Subckt, VoltageSource

PTM_OPAMP_SUBCKT = "opamp_ptm45"
SUPPLY = 0.9  # V, +-


def transistor_opamp() -> tuple[Subckt, tuple[str, ...]]:
    """``(.subckt opamp_ptm45 inp inn out, includes)``; supplies are inside the subcircuit."""
    L = 0.5e-6

    def mos(name, d, g, s, model, w):
        bulk = "vss" if model == PTM45_NMOS else "vdd"
        return ModelInstance(name, (d, g, s, bulk), model, (("w", w), ("l", L)))

    elements = (
        VoltageSource("Vdd", ("vdd", "0"), dc=SUPPLY),
        VoltageSource("Vss", ("vss", "0"), dc=-SUPPLY),
        CurrentSource("Ib", ("vdd", "nb"), dc=20e-6),
        mos("Mb", "nb", "nb", "vss", PTM45_NMOS, 2e-6),
        mos("M5", "tail", "nb", "vss", PTM45_NMOS, 4e-6),
        mos("M1", "n1", "inn", "tail", PTM45_NMOS, 4e-6),
        mos("M2", "n2", "inp", "tail", PTM45_NMOS, 4e-6),
        mos("M3", "n1", "n1", "vdd", PTM45_PMOS, 4e-6),
        mos("M4", "n2", "n1", "vdd", PTM45_PMOS, 4e-6),
        mos("M6", "out", "n2", "vdd", PTM45_PMOS, 16e-6),
        mos("M7", "out", "nb", "vss", PTM45_NMOS, 8e-6),
        Capacitor("Cc", ("n2", "nz"), 0.5e-12),
        Resistor("Rz", ("nz", "out"), 5e3),
    )
    return Subckt(PTM_OPAMP_SUBCKT, ("inp", "inn", "out"), elements), (str(ptm45_card()),)
