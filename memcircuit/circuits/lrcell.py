"""The learning-rate cell: a memristor whose conductance scales the programming pulses.

Circuit (paper 1, Yan et al., IEEE TNNLS 2023, whose exact circuit is not public; this is the
standard form, see docs/ASSUMPTIONS.md): the update pulse ``V_in`` drives an inverting amplifier
whose input element is the learning-rate memristor ``G_lr`` and whose feedback resistor is
``r_f``; a second inversion in the driver restores the sign, so the pulse that reaches the
crossbar is ``V_in * G_lr * r_f / (1 + (1 + G_lr r_f)/A)`` (finite op-amp gain ``A``; Sedra and
Smith 2015, eq. 2.5). The learning rate is proportional to ``G_lr``. After every use the cell
receives an adaptation pulse (``v_adapt`` V for ``t_adapt`` s, default a depressing pulse), so
``G_lr`` - and the learning rate - follows the memristor's own conductance trajectory: fast
changes at first, slow ones as the state approaches its bound.

With ``device=None`` the cell is a fixed resistor of conductance ``g`` (a constant learning rate).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from memcircuit.circuits.crossbar import frozen_subckt
from memcircuit.circuits.sense import OPAMP_SUBCKT, opamp_subckt, tia_linear_gain
from memcircuit.circuits.spec import OpAmpParams, TiaParams
from memcircuit.devices.base import DeviceModel
from memcircuit.errors import ConfigError
from memcircuit.netlist import Circuit, Pwl, Resistor, Subckt, SubcktInstance, Tran, VoltageSource

LR_SUBCKT = "lr_cell"
LR_OPAMP = "opamp_lr"


@dataclass(frozen=True)
class LrCellParams:
    """Learning-rate cell: feedback resistance ``r_f`` (ohm), op-amp, adaptation pulse
    ``v_adapt`` (V) of ``t_adapt`` (s) applied to the cell's memristor after each use, and the
    read voltage ``v_read`` (V) that defines its conductance."""

    r_f: float = 10e3
    opamp: OpAmpParams = field(default_factory=OpAmpParams)
    v_adapt: float = -1.0
    t_adapt: float = 1e-6
    v_read: float = 0.1

    def __post_init__(self) -> None:
        TiaParams(r_f=self.r_f, opamp=self.opamp)  # same checks as a TIA
        if self.t_adapt < 0:
            raise ConfigError("adaptation pulse width must be >= 0 s")
        if not self.v_read > 0:
            raise ConfigError("read voltage must be > 0 V")


class LearningRateCell:
    """A learning-rate cell with state ``x`` (or a fixed conductance ``g`` without a device)."""

    def __init__(self, device: DeviceModel | None = None, *, x0: float | None = None, g: float | None = None,
                 params: LrCellParams | None = None, rng: np.random.Generator | None = None) -> None:
        self.device, self.params = device, params or LrCellParams()
        self.rng = rng if rng is not None else np.random.default_rng(0)
        if device is None:
            if g is None or not g > 0:
                raise ConfigError("a learning-rate cell without a device needs a conductance g > 0 (S)")
            self.g_fixed, self.x = float(g), None
        else:
            self.g_fixed = None
            self.x = float(0.5 * (device.x_min + device.x_max) if x0 is None else x0)

    def conductance(self) -> float:
        """The cell's conductance (S) at the read voltage."""
        if self.device is None:
            return self.g_fixed
        return float(np.asarray(self.device.conductance(np.asarray(self.x), self.params.v_read)))

    def gain(self) -> float:
        """Pulse scale factor ``V_out / V_in`` (V/V) of the two-inversion chain, finite gain included."""
        tia = TiaParams(r_f=self.params.r_f, opamp=self.params.opamp)
        return -tia_linear_gain(1.0 / self.conductance(), tia)

    def scale(self, volts: np.ndarray | float) -> np.ndarray:
        """Scale update-pulse amplitudes (V) by :meth:`gain`, clipped to the op-amp's swing."""
        out = np.asarray(volts, dtype=float) * self.gain()
        return np.clip(out, self.params.opamp.v_low, self.params.opamp.v_high)

    def adapt(self) -> float:
        """Apply the adaptation pulse to the cell's memristor; returns the new conductance (S)."""
        if self.device is not None and self.params.t_adapt > 0:
            self.x = float(np.asarray(self.device.apply_pulse(np.asarray(self.x), self.params.v_adapt,
                                                              self.params.t_adapt, rng=self.rng)))
        return self.conductance()

    def subckt(self) -> tuple[Subckt, tuple[Subckt, ...]]:
        """``.subckt lr_cell in out`` (inverting stage, memristor state frozen at the current
        ``x``) and the subcircuits it instantiates."""
        if self.device is None:
            element = Resistor("Rlr", ("in", "n"), 1.0 / self.g_fixed)
            extra: tuple[Subckt, ...] = ()
        else:
            frozen = frozen_subckt(self.device)
            element = SubcktInstance("Xlr", ("in", "n"), frozen.name, (("x0", self.x),))
            extra = (frozen,)
        sub = Subckt(LR_SUBCKT, ("in", "out"), (
            element,
            Resistor("Rf", ("n", "out"), self.params.r_f),
            SubcktInstance("Xamp", ("0", "n", "out"), OPAMP_SUBCKT),
        ))
        return sub, extra + (opamp_subckt(self.params.opamp),)


def use_circuit(device: DeviceModel, x: float, params: LrCellParams, t_read: float, *, edge: float = 1e-9
                ) -> tuple[Circuit, Tran, dict[str, object]]:
    """One use of a learning-rate cell as a transient: ``(circuit, analysis, probes)``.

    The inverting stage of :class:`LearningRateCell` with the cell memristor in its dynamic
    (behavioural) form, starting at state ``x``: its input ``in`` is held at ``-v_read`` for
    ``t_read`` s (the stage's output then sets the update pulses: ``+gain * v_read`` V), then
    driven to ``v_adapt`` for ``t_adapt`` s (the adaptation pulse; the virtual ground keeps the
    memristor's other end at 0 V, so the cell sees ``v_adapt``), then back at ``-v_read``.
    ``probes``: ``t_gain`` (s, end of the first read), ``out`` (output vector), ``state`` (the
    memristor's state vector), ``source`` (the input source's current vector, for the energy).
    """
    p = params
    t_a = max(float(p.t_adapt), 0.0)
    e = min(edge, t_a / 4) if t_a > 0 else edge
    t1 = t_read
    points = [(0.0, -p.v_read), (t1, -p.v_read)]
    if t_a > 0:
        # edges placed as the array's pulses (memcircuit.circuits.drivers.pulse_waveforms): the
        # pulse holds v_adapt for t_adapt - e and ramps for e at each end
        points += [(t1 + e, p.v_adapt), (t1 + t_a, p.v_adapt), (t1 + t_a + e, -p.v_read)]
    stop = points[-1][0] + t_read
    points.append((stop, -p.v_read))
    memristor = device.instance("Xlr", "in", "n", float(x), form="behavioural")
    elements = (VoltageSource("Vlr", ("in", "0"), dc=-p.v_read, wave=Pwl(tuple(points))), memristor,
                Resistor("Rf", ("n", "out"), p.r_f), SubcktInstance("Xamp", ("0", "n", "out"), LR_OPAMP))
    circuit = Circuit("memcircuit learning-rate cell", elements=elements,
                      subckts=(device.behavioural_subckt(), opamp_subckt(p.opamp, LR_OPAMP)))
    width = min(t_read, t_a) if t_a > 0 else t_read
    analysis = Tran(step=min(width / 20, e / 2), stop=stop, max_step=max(t_a, t_read) / 10, uic=True)
    return circuit, analysis, {"t_gain": t1, "out": "v(out)", "state": "v(xlr.x)", "source": "i(vlr)"}
