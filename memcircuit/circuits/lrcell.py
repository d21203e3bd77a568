"""The learning-rate cell: a memristor whose conductance sets how long the programming pulses last.

Circuit (paper 1, Yan et al., IEEE TNNLS 2023, whose exact circuit is not public; this is our
standard form, see docs/ASSUMPTIONS.md): an inverting amplifier whose input element is the cell
memristor ``G_lr`` and whose feedback resistor is ``r_f``, its input held at ``-v_read``, puts
out ``V_lr = v_read * G_lr * r_f / (1 + (1 + G_lr r_f)/A)`` (finite op-amp gain ``A``; Sedra and
Smith 2015, eq. 2.5). That voltage is the threshold of the ramp comparators that time the
layer's pulse drivers (:class:`LrStage`): a driver commanded to pulse for ``w`` s starts a ramp
of slope ``v_read / w`` with its pulse and is switched off when the ramp crosses ``V_lr``, so the
array sees the commanded amplitude for ``w * V_lr / v_read`` s. The learning rate is the width
factor ``V_lr / v_read``, proportional to ``G_lr`` (1 at the start with ``r_f = 1/G_lr(start)``).
Widths, not amplitudes: the devices have a switching threshold, so scaling an amplitude changes
the update by a non-linear, state-dependent factor, while the change of a pulse of fixed
amplitude is proportional to its width (the pulse encoders' own assumption). After every use the
cell receives an adaptation pulse (``v_adapt`` V for ``t_adapt`` s on the stage input, the
virtual ground holding the memristor's other end), so ``G_lr`` - and the learning rate - follows
the memristor's own conductance trajectory: fast changes at first, slow ones near its bound.

At ``spice`` the stage, the comparators and the adaptation pulse are elements of the array's
programming transient (:func:`gated_program_circuit`); the other fidelities apply the same
widths and the same adaptation with the device's numeric twin (:meth:`LrStage.gate`,
:meth:`LrStage.adapt_twin`). :func:`use_circuit` is the stage alone, as a transient.

With ``device=None`` :class:`LearningRateCell` is a fixed resistor of conductance ``g`` (a
constant learning rate).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from memcircuit.circuits.drivers import pulse_schedule
from memcircuit.circuits.netlists import program_drivers
from memcircuit.circuits.sense import OPAMP_SUBCKT, opamp_subckt, tia_linear_gain, tia_output
from memcircuit.circuits.spec import CrossbarSpec, OpAmpParams, TiaParams
from memcircuit.devices.base import DeviceModel
from memcircuit.errors import ConfigError
from memcircuit.netlist import (
    BehavioralSource,
    Circuit,
    Element,
    Expr,
    Pwl,
    Resistor,
    Subckt,
    SubcktInstance,
    Tran,
    VoltageSource,
)
from memcircuit.netlist.probes import Current, StateNode, Voltage
from memcircuit.units import format_spice

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
            frozen = self.device.read_subckt()
            element = SubcktInstance("Xlr", ("in", "n"), frozen.name, (("x0", self.x),))
            extra = (frozen,)
        sub = Subckt(LR_SUBCKT, ("in", "out"), (
            element,
            Resistor("Rf", ("n", "out"), self.params.r_f),
            SubcktInstance("Xamp", ("0", "n", "out"), OPAMP_SUBCKT),
        ))
        return sub, extra + (opamp_subckt(self.params.opamp),)


# Node and element names of the stage inside a circuit (an array's programming transient or the
# stage alone): input ``lr_in`` (source ``Vlr``), virtual ground ``lr_n``, output ``lr_o``.
STAGE_PROBES = {"out": Voltage("lr_o"), "in": Voltage("lr_in"), "source": Current("Vlr"),
                "state": StateNode("Xlr", "x")}
# Width (V) of the comparators' tanh transition: 1e-4 of v_read, so a gated edge lasts 1e-4 of
# the pulse it ends (the ramp crosses 1e-4 v_read in 1e-4 w).
COMPARATOR_KNEE = 1e-4
# Time points placed this fraction of a pulse's width before and after its expected switch-off
# (the transition is over within 5 knees, 5e-4 of the width).
CUT_MARGIN = 2e-3


def _stage(device: DeviceModel, x: float, params: LrCellParams, t_hold: float, tail: float, edge: float
           ) -> tuple[list[Element], tuple[Subckt, ...], float, float]:
    """The stage with its input source: ``(elements, subckts, adaptation edge s, stop time s)``.

    The input is held at ``-v_read`` for ``t_hold`` s (the output ``+gain * v_read`` times the
    drivers), then driven to ``v_adapt`` for ``t_adapt`` s (the adaptation pulse, edges placed as
    the array's pulses: it holds ``v_adapt`` for ``t_adapt - e`` and ramps for ``e`` at each end,
    so its area is ``v_adapt t_adapt``), then back at ``-v_read`` for ``tail`` s. The memristor is
    its dynamic (behavioural) form starting at state ``x``.
    """
    p = params
    t_a = max(float(p.t_adapt), 0.0)
    e = min(edge, t_a / 4) if t_a > 0 else edge
    points = [(0.0, -p.v_read), (t_hold, -p.v_read)]
    if t_a > 0:
        points += [(t_hold + e, p.v_adapt), (t_hold + t_a, p.v_adapt), (t_hold + t_a + e, -p.v_read)]
    stop = points[-1][0] + tail
    points.append((stop, -p.v_read))
    elements: list[Element] = [
        VoltageSource("Vlr", ("lr_in", "0"), dc=-p.v_read, wave=Pwl(tuple(points))),
        device.instance("Xlr", "lr_in", "lr_n", float(x), form="behavioural"),
        Resistor("Rlr_f", ("lr_n", "lr_o"), p.r_f),
        SubcktInstance("Xlr_amp", ("0", "lr_n", "lr_o"), LR_OPAMP),
    ]
    return elements, (device.behavioural_subckt(), opamp_subckt(p.opamp, LR_OPAMP)), e, stop


def use_circuit(device: DeviceModel, x: float, params: LrCellParams, t_read: float, *, edge: float = 1e-9,
                t_hold: float | None = None) -> tuple[Circuit, Tran, dict[str, object]]:
    """One use of a learning-rate cell alone, as a transient: ``(circuit, analysis, probes)``.

    The stage of :func:`_stage` (input at ``-v_read`` for ``t_hold`` s, default ``t_read``, then
    the adaptation pulse, then ``-v_read`` for ``t_read`` s). ``probes``: ``t_gain`` (s, end of
    the first read) and the probes ``out`` (output voltage), ``state`` (the memristor's state),
    ``source`` (the input source's current, for the energy), ``in`` (its voltage).
    """
    hold = t_read if t_hold is None else float(t_hold)
    elements, subckts, e, stop = _stage(device, x, params, hold, t_read, edge)
    circuit = Circuit("memcircuit learning-rate cell", elements=tuple(elements), subckts=subckts)
    t_a = max(float(params.t_adapt), 0.0)
    width = min(t_read, t_a) if t_a > 0 else t_read
    analysis = Tran(step=min(width / 20, e / 2), stop=stop, max_step=max(t_a, t_read, hold / 100) / 10, uic=True)
    return circuit, analysis, {"t_gain": hold, **STAGE_PROBES}


@dataclass(frozen=True)
class LrStage:
    """A layer's learning-rate cell as the timing stage of its pulse drivers (module docstring).

    ``device`` in state ``x``; ``params``: feedback resistor, op-amp, read voltage ``v_read`` (V,
    also the comparators' ramp full scale) and the adaptation pulse ``v_adapt`` V for
    ``t_adapt`` s that the cell receives after the array's pulses (none when ``t_adapt`` is 0).
    """

    device: DeviceModel
    x: float
    params: LrCellParams

    @property
    def adapts(self) -> bool:
        return self.params.t_adapt > 0

    def held(self) -> LrStage:
        """The same stage without the adaptation pulse (the other tiles of a layer)."""
        return replace(self, params=replace(self.params, t_adapt=0.0))

    def conductance(self) -> float:
        """The cell's chord conductance (S) at the read voltage."""
        return float(self.device.conductance(np.array([self.x]), self.params.v_read)[0])

    def width_factor(self) -> float:
        """``V_lr / v_read``: the stage's output (the comparators' threshold) over the ramps' full
        scale, i.e. the factor every pulse width of the layer is multiplied by (finite op-amp gain
        and output swing included, :func:`memcircuit.circuits.sense.tia_output`)."""
        tia = TiaParams(r_f=self.params.r_f, opamp=self.params.opamp)
        out = tia_output(-self.params.v_read, 1.0 / self.conductance(), tia)[0]
        return float(out) / self.params.v_read

    def gate(self, steps: Sequence) -> tuple:
        """The pulse steps the array sees: every width times :meth:`width_factor` (at most the
        commanded width: a comparator can only end a pulse early)."""
        f = min(max(self.width_factor(), 0.0), 1.0)
        return tuple(replace(s, row_widths=s.row_widths * f, col_widths=s.col_widths * f) for s in steps)

    def adapt_twin(self, t_hold: float, rng: np.random.Generator | None = None) -> dict[str, float]:
        """The stage solved with the device's numeric twin: held at ``-v_read`` for ``t_hold`` s,
        then the adaptation pulse. ``{"x": new state, "gain": width factor, "energy": J}`` (the
        input source's energy: ``v_read^2 G t_hold`` plus ``|v_adapt I(v_adapt, x)| t_adapt``)."""
        p = self.params
        x = np.array([self.x])
        energy = p.v_read**2 * self.conductance() * t_hold
        if self.adapts:
            energy += abs(p.v_adapt * float(self.device.current(np.array([p.v_adapt]), x)[0])) * p.t_adapt
            x = self.device.apply_pulse(x, p.v_adapt, p.t_adapt, rng=rng)
        return {"x": float(x[0]), "gain": self.width_factor(), "energy": float(energy)}


def gated_program_circuit(circuit: Circuit, analysis: Tran, spec: CrossbarSpec, steps: Sequence, stage: LrStage, *,
                          edge: float = 1e-9, gap: float = 10e-9) -> tuple[Circuit, Tran, float]:
    """A programming transient (:func:`memcircuit.circuits.netlists.program_circuit` of the same
    ``steps``, ``edge`` and ``gap``) whose drivers are timed by the learning-rate ``stage``:
    ``(circuit, analysis, t_hold)``, ``t_hold`` the end of the array's pulses (the stage output
    at that time is the learning rate; the adaptation pulse follows it).

    Every driver ``V<label>`` becomes a gated driver: a PWL amplitude source ``Va_<label>`` (the
    commanded amplitude from the pulse start to one edge after the commanded width), a ramp
    ``Vramp_<label>`` of slope ``v_read / w`` starting half an edge into each pulse, and a
    comparator ``Bg_<label>`` that passes the amplitude while the ramp is below the stage output:
    the pulse then lasts ``w V_lr / v_read`` s with exactly that area (the half edge of the rise
    is in it). ``V<label>`` stays, as a 0 V source between the comparator and the driver node, so
    the driver's voltage and current vectors are the ungated driver's.
    """
    if gap < edge:
        raise ConfigError(f"gated drivers need a gap between steps of at least one edge ({edge:g} s), got {gap:g} s")
    p = stage.params
    lines, starts = pulse_schedule(steps, spec.rows, spec.cols, edge=edge, gap=gap)
    t_hold = float(starts[-1])
    factor = stage.width_factor()   # only to place a time point at each expected switch-off
    drivers = program_drivers(spec)
    gated = {f"V{label}".lower() for label, _, _ in drivers}
    elements = [e for e in circuit.elements if e.name.lower() not in gated]
    knee = format_spice(COMPARATOR_KNEE * p.v_read)
    for (label, _, node), pulses in zip(drivers, lines):
        amp: list[tuple[float, float]] = [(0.0, 0.0)]
        ramp: list[tuple[float, float]] = [(0.0, 0.0)]
        for t0, e, a, w in pulses:
            amp += [(t0, 0.0), (t0 + e, a), (t0 + w + e, a), (t0 + w + 2 * e, 0.0)]
            r0, r1 = t0 + e / 2, t0 + w + 2 * e
            cut = r0 + factor * w
            # time points just before and after the expected switch-off: the transient steps
            # through the comparator's transition instead of landing in its middle
            near = [(t, p.v_read * (t - r0) / w) for t in (cut - CUT_MARGIN * w, cut + CUT_MARGIN * w) if r0 < t < r1]
            ramp += [(r0, 0.0), *near, (r1, p.v_read * (r1 - r0) / w), (r1 + e, 0.0)]
        amp.append((t_hold, 0.0))
        ramp.append((max(t_hold, ramp[-1][0] + edge), 0.0))
        elements += [
            VoltageSource(f"Va_{label}", (f"a_{label}", "0"), wave=Pwl(tuple(amp))),
            VoltageSource(f"Vramp_{label}", (f"ramp_{label}", "0"), wave=Pwl(tuple(ramp))),
            BehavioralSource(f"Bg_{label}", (f"g_{label}", "0"), "V",
                             Expr(f"V(a_{label})*0.5*(1 + tanh((V(lr_o) - V(ramp_{label}))/{knee}))")),
            VoltageSource(f"V{label}", (node, f"g_{label}"), dc=0.0),
        ]
    tail = max(gap, edge)
    stage_elements, subckts, e, stop = _stage(stage.device, stage.x, p, t_hold, tail, edge)
    circuit = replace(circuit, elements=tuple(elements) + tuple(stage_elements), subckts=circuit.subckts + subckts)
    step = min(analysis.step, e / 2) if stage.adapts else analysis.step
    return circuit, Tran(step=step, stop=stop, max_step=analysis.max_step, uic=True), t_hold


def read_stage(result, stage: LrStage, t_hold: float) -> dict[str, float]:
    """What a transient with the stage says about the cell: ``{"x": final state, "gain": width
    factor at ``t_hold`` (stage output / v_read), "energy": J the stage input delivered}``."""
    t = result.time
    gain = float(np.interp(t_hold, t, result[STAGE_PROBES["out"]])) / stage.params.v_read
    energy = float(np.trapezoid(result[STAGE_PROBES["in"]] * -result[STAGE_PROBES["source"]], t))
    return {"x": float(result[STAGE_PROBES["state"]][-1]), "gain": gain, "energy": energy}
