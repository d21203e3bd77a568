"""The interface every memristor family implements: one physics, three forms.

A family is a frozen parameter dataclass (SI units in each field's ``metadata["unit"]``) plus a
:class:`DeviceModel` that turns those parameters into

* a **numeric twin** (vectorised numpy over arrays of devices): ``current(v, x)``, ``didv(v, x)``,
  ``dxdt(v, x)``, integration of a voltage waveform and a per-pulse conductance update;
* a **behavioural ngspice subcircuit** (B/G sources and a state capacitor) with ports ``(p, n)``
  and the state on the internal node ``x`` (read back as ``v(<instance>.x)``);
* a **Verilog-A module** in ``models/`` compiled through :mod:`memcircuit.spice.osdi`.

The state ``x`` is dimensionless and of order 1 (usually in [0, 1]). Current flows from ``p`` to
``n`` through the device for ``v = V(p) - V(n) > 0``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from memcircuit.errors import ConfigError
from memcircuit.netlist.ir import BehavioralSource, Element, Expr, Model, Subckt
from memcircuit.netlist.probes import StateNode
from memcircuit.paths import MODELS_DIR


def unit(u: str, doc: str = "") -> dict[str, str]:
    """Field metadata carrying the SI unit and a one-line meaning: ``field(metadata=unit("ohm"))``."""
    return {"unit": u, "doc": doc}


@dataclass(frozen=True)
class DeviceParams:
    """Base of every family's parameter dataclass."""

    def describe(self) -> list[dict[str, Any]]:
        """Name, value, unit and meaning of every parameter (for ``memcircuit models list``)."""
        return [
            {"name": f.name, "default": getattr(self, f.name), "unit": f.metadata.get("unit", ""),
             "doc": f.metadata.get("doc", "")}
            for f in fields(self)
        ]


class DeviceModel(abc.ABC):
    """One memristor family with concrete parameters."""

    family: ClassVar[str]          # identifier-safe family name, e.g. "vteam", "exp_pulse"
    name: ClassVar[str] = ""       # registry name (``get_device``), e.g. "exp-pulse"; family if empty
    params_class: ClassVar[type]   # the frozen DeviceParams subclass
    va_file: ClassVar[str | None] = None   # file name in models/, None if no Verilog-A form
    va_module: ClassVar[str | None] = None  # module name inside that file

    def __init__(self, params: DeviceParams | None = None) -> None:
        self.params = params if params is not None else self.params_class()

    def __str__(self) -> str:   # how commands name the device in messages and JSON
        return self.name or self.family

    # -- numeric twin -------------------------------------------------------------------------
    @abc.abstractmethod
    def current(self, v: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Device current in A for voltage ``v`` (V) across it and state ``x``."""

    @abc.abstractmethod
    def dxdt(self, v: np.ndarray, x: np.ndarray) -> np.ndarray:
        """State derivative in 1/s."""

    def didv(self, v: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Small-signal conductance dI/dV in S (central difference unless overridden)."""
        h = 1e-6
        return (self.current(v + h, x) - self.current(v - h, x)) / (2 * h)

    def conductance(self, x: np.ndarray, v_read: float = 0.1) -> np.ndarray:
        """Chord conductance I(v_read)/v_read in S."""
        return self.current(np.full_like(np.asarray(x, float), v_read), x) / v_read

    x_min: ClassVar[float] = 0.0
    x_max: ClassVar[float] = 1.0
    # True when the current is exactly G(x) * v (the conductance does not depend on the voltage):
    # circuit solvers then treat the cell as a linear conductance at any bias
    ohmic: ClassVar[bool] = False

    @abc.abstractmethod
    def integrate(self, t: np.ndarray, v: Callable[[np.ndarray], np.ndarray] | np.ndarray,
                  x0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Integrate the state over time points ``t`` (s) for applied voltage ``v``.

        ``v`` is an array shaped like ``t`` (one device) or ``(len(t), n)`` or a function of t.
        Returns ``(x, i)`` with shape ``(len(t), n)``.
        """

    @abc.abstractmethod
    def apply_pulse(self, x: np.ndarray, amplitude: np.ndarray | float, width: np.ndarray | float,
                    rng: np.random.Generator | None = None) -> np.ndarray:
        """State after one rectangular pulse of ``amplitude`` V and ``width`` s (vectorised)."""

    # -- netlist forms ------------------------------------------------------------------------
    @abc.abstractmethod
    def behavioural_subckt(self) -> Subckt:
        """Behavioural subcircuit with ports ``(p, n)``, internal state node ``x`` and a parameter
        ``x0`` (initial state) that instances override."""

    def va_path(self) -> Path | None:
        return MODELS_DIR / self.va_file if self.va_file else None

    def osdi_model(self, name: str) -> Model:
        """``.model`` card for the compiled Verilog-A module with these parameters."""
        raise NotImplementedError(f"{self.family} has no Verilog-A form")

    def osdi_model_name(self) -> str:
        """The model name :meth:`instance` refers to in the compiled form (``<family>_va``)."""
        return f"{self.family}_va"

    def _iv_elements(self) -> tuple[Subckt, tuple]:
        """The behavioural subcircuit and its elements not attached to the state node ``x``
        (the I-V elements, which see the state through ``V(x)``)."""
        sub = self.behavioural_subckt()
        if "x" in sub.ports or not any("x" in e.nodes for e in sub.elements):
            raise ConfigError(f"device {self.family} does not keep its state on an internal node 'x'; "
                              "it needs its own read_subckt() for DC reads in ngspice")
        return sub, tuple(e for e in sub.elements if "x" not in e.nodes)

    def read_subckt(self) -> Subckt:
        """A subcircuit whose state is held at its parameter ``x0`` (DC reads), derived from
        :meth:`behavioural_subckt` by the convention above (state on internal node ``x``): every
        element attached to ``x`` (state capacitor, state-derivative source) is replaced by
        ``Bhold x 0 V={x0}``, so the I-V elements see the frozen state. Named
        ``<behavioural name>_frozen``. Devices without that form override it."""
        sub, kept = self._iv_elements()
        hold = BehavioralSource("Bhold", ("x", "0"), "V", Expr("x0"))
        return replace(sub, name=f"{sub.name}_frozen", elements=kept + (hold,))

    @property
    def state_port(self) -> bool:
        """True when the I-V elements can take the state from a port (:meth:`held_subckt`):
        the read form is the one derived from the behavioural subcircuit."""
        return type(self).read_subckt is DeviceModel.read_subckt and self.cell_shape is None

    def held_subckt(self) -> Subckt:
        """The I-V elements of :meth:`behavioural_subckt` with the state node ``x`` as a third
        port ``(p, n, x)``: a circuit that drives ``x`` from outside (an external source whose
        value the host gives per solve) reads any state without being parsed again. Named
        ``<behavioural name>_held``."""
        if not self.state_port:
            raise ConfigError(f"device {self.family}: its read form does not take the state from a port")
        sub, kept = self._iv_elements()
        return replace(sub, name=f"{sub.name}_held", ports=(*sub.ports, "x"), elements=kept)

    def instance(self, name: str, p: str, n: str, x0: float, *, form: str = "behavioural") -> Element:
        """One device between nodes ``p`` and ``n`` starting at state ``x0``."""
        raise NotImplementedError

    def state_probe(self, name: str, form: str = "behavioural", path: tuple[str, ...] = (),
                    x0: float = 0.0) -> StateNode:
        """Probe of the state of instance ``name`` (as passed to :meth:`instance`) inside the
        subcircuit instances ``path``: the behavioural subcircuit's node ``x`` (the state
        itself) or the Verilog-A instance's node :attr:`state_node` (``x - x0``; the probe adds
        ``x0``)."""
        if form in ("va", "osdi"):
            inst = name if name[:1].upper() == "N" else f"N{name}"
            return StateNode(inst, self.state_node, tuple(path), compiled=True, offset=float(x0))
        return StateNode(name, "x", tuple(path))

    def read_state(self, result, name: str, x0: float | np.ndarray, form: str = "behavioural",
                   path: tuple[str, ...] = ()) -> np.ndarray:
        """The state trajectory of instance ``name`` from an ngspice result (see :meth:`state_probe`)."""
        values = np.asarray(result[self.state_probe(name, form, path)], dtype=float)
        return values + x0 if form in ("va", "osdi") else values

    # -- per-cell devices ---------------------------------------------------------------------
    cell_shape: tuple[int, ...] | None = None  # set by per-cell device arrays (sample_devices)

    def select(self, index: Any) -> DeviceModel:
        """The devices at ``index`` of a per-cell device array (numpy indexing: a boolean mask,
        an index tuple); a homogeneous model (every cell alike) returns itself. Use it when only
        some cells are updated: ``device.select(hit).apply_pulse(x[hit], v[hit], dt)``."""
        return self

    @property
    def nominal(self) -> DeviceModel:
        """The model every cell follows without device-to-device variation: the device itself; a
        per-cell device array returns the model its cells vary around."""
        return self

    # -- capabilities: what tiles and optimizers may ask of any device --------------------------
    #: a user's Verilog-A model with no behavioural or numeric form: it runs compiled, at ``spice`` only
    va_only: ClassVar[bool] = False
    #: name of the state node inside the compiled Verilog-A module (a user's model names its own)
    state_node: ClassVar[str] = "st"
    #: the pulse-response families: programming counts in standard pulses (:meth:`pulse_counts`)
    standard_pulse: ClassVar[bool] = False

    def pulse_counts(self, amplitude: np.ndarray | float,
                     width: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Standard-pulse equivalents ``(n_set, n_reset)`` of rectangular pulses of ``amplitude`` V
        and ``width`` s; only families with :attr:`standard_pulse` define a standard pulse."""
        raise NotImplementedError(f"{self} has no standard programming pulse (standard_pulse is False)")
