"""Typed circuit elements of a tile: what the generators build and every back end reads.

The ngspice writer prints these through their lowering (:meth:`element` of an array entry,
:meth:`elements` of a composite): a memristor cell becomes a behavioural subcircuit instance, an
OSDI ``N`` instance or a resistor; a TIA its op-amp instance, feedback resistor and ADC source.
The nodal solver (:mod:`memcircuit.solvers.nodal`) stamps them from their fields: a cell through
the device's numeric twin, an access transistor through the level-1 equations, a TIA through
its closed-form input current. Both read the same objects, so the topology exists once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from memcircuit.circuits.sense import OPAMP_SUBCKT, adc_expr
from memcircuit.circuits.spec import AdcParams, TiaParams, TransistorParams
from memcircuit.devices.base import DeviceModel
from memcircuit.errors import ConfigError
from memcircuit.netlist import BehavioralSource, Element, Resistor, SubcktInstance
from memcircuit.netlist.arrays import Composite, ElementArray, ModelInstanceArray
from memcircuit.netlist.probes import StateNode, Voltage

CELL_FORMS = ("behavioural", "osdi", "frozen", "held")


@dataclass(frozen=True, eq=False)
class CellArray(ElementArray):
    """Crossbar cells between pins (top, bottom): linear conductances ``g`` (S; a cell of 0 S is
    left out of the netlist) or memristors ``device`` at ``states``. ``form`` picks the device's
    netlist form: ``behavioural`` (state evolves), ``osdi`` (compiled Verilog-A), ``frozen``
    (state held at ``states``: DC reads, subcircuit ``frozen``) or ``held`` (state given on a third
    pin, :meth:`DeviceModel.held_subckt`, subcircuit ``frozen``)."""

    g: np.ndarray | None = None
    device: DeviceModel | None = None
    states: np.ndarray | None = None
    form: str = "behavioural"
    frozen: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.form not in CELL_FORMS:
            raise ConfigError(f"device form must be one of {', '.join(CELL_FORMS)}, got {self.form!r}")
        if (self.device is None) == (self.g is None):
            raise ConfigError("cells are either linear (g) or memristors (device and states)")
        if self.device is not None and self.states is None:
            raise ConfigError("device cells need a state matrix")

    @property
    def linear(self) -> bool:
        return self.device is None

    def element(self, flat: int) -> Element:
        p, n = self.nodes_of(flat)[:2]
        name = self.element_name(flat)
        if self.device is None:
            return Resistor(name, (p, n), 1.0 / float(self.g.flat[flat]))
        x0 = float(self.states.flat[flat])
        if self.frozen is not None and self.device.va_only:  # the compiled module in its read subckt
            return SubcktInstance(name, (p, n), self.frozen, (("x0", x0),))
        cell = tuple(int(k) for k in np.unravel_index(flat, self.shape))
        kwargs = {"cell": cell} if self.device.cell_shape else {}
        inst = self.device.instance(name, p, n, x0, form="behavioural" if self.form in ("frozen", "held")
                                    else self.form, **kwargs)
        if self.form == "held":
            return replace(inst, nodes=(p, n, self.pins[2].name(flat)), subckt=self.frozen)
        if self.frozen is not None:
            if not isinstance(inst, SubcktInstance):
                raise ConfigError(f"{self.device.family}: the frozen (read) form needs a behavioural subcircuit")
            inst = replace(inst, subckt=self.frozen)
        return inst

    def state_probes(self, path: tuple[str, ...]) -> list[StateNode]:
        """Probes of every cell's state (row-major) in a transient, the array sitting inside the
        subcircuit instances ``path``."""
        if self.device is None:
            raise ConfigError("linear cells have no state")
        form = "va" if self.form == "osdi" else self.form
        return [self.device.state_probe(self.element_name(k), form, path, float(self.states.flat[k]))
                for k in range(self.size)]


@dataclass(frozen=True, eq=False)
class AccessTransistorArray(ModelInstanceArray):
    """The access MOSFETs of 1T1R cells (pins drain, gate, source, bulk) with their parameters
    (the level-1 card is the one the nodal solver implements; the PTM 45 nm card is ngspice's)."""

    transistor: TransistorParams = field(default_factory=TransistorParams)


@dataclass(frozen=True, eq=False)
class Tia(Composite):
    """Inverting transimpedance amplifier ``k`` on the sensed line ``port``: op-amp (non-inverting
    input at ground), feedback resistor ``Rf{k}`` to its output ``o{k}``, and with ``adc`` a
    quantiser ``Badc{k}`` writing ``q{k}``."""

    port: str = ""
    k: int = 0
    tia: TiaParams = field(default_factory=TiaParams)
    adc: AdcParams | None = None
    amp: str = OPAMP_SUBCKT

    @property
    def out(self) -> str:
        return f"o{self.k}"

    def elements(self) -> tuple[Element, ...]:
        k, out = self.k, self.out
        parts: list[Element] = [SubcktInstance(f"Xtia{k}", ("0", self.port, out), self.amp),
                                Resistor(f"Rf{k}", (self.port, out), self.tia.r_f)]
        if self.adc is not None:
            parts.append(BehavioralSource(f"Badc{k}", (f"q{k}", "0"), "V", adc_expr(out, self.adc)))
        return tuple(parts)

    def sensed_probe(self) -> Voltage:
        """The node that carries what the periphery reports: the ADC code or the TIA output (V)."""
        return Voltage(f"q{self.k}" if self.adc is not None else self.out)

    def input_probe(self) -> Voltage:
        return Voltage(self.port)

    def output_probe(self) -> Voltage:
        return Voltage(self.out)
