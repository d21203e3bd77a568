"""One device driven by one voltage source, in any of the three forms.

:func:`simulate` returns the common record ``{"time", "v", "i", "x"}`` (s, V, A, state) for a
sine sweep or a PWL waveform, from ngspice (behavioural subcircuit or compiled Verilog-A) or
from the numeric twin, so the forms can be compared sample by sample. The circuit is::

    V1 a 0 <wave>          the stimulus
    <device> a 0           X... (behavioural) or N... (Verilog-A), starting at x0

run as ``.tran step stop 0 max_step uic``; the device current is ``-i(v1)``.
"""

from __future__ import annotations

import numpy as np

from memcircuit.devices.analysis import pwl_samples, pwl_times
from memcircuit.devices.model import ExprDevice, canonical_form
from memcircuit.errors import ConfigError
from memcircuit.netlist import Circuit, Pwl, Sine, Tran, VoltageSource
from memcircuit.netlist.probes import Current, Voltage

INSTANCE = "Xmem"


def circuit(device: ExprDevice, wave: Sine | Pwl, x0: float, form: str = "behavioural",
            options: tuple = ()) -> Circuit:
    """The one-device test circuit (see the module docstring); ``options``: ngspice ``.options``."""
    form = canonical_form(form)
    if form == "numeric":
        raise ConfigError("the numeric form has no circuit")
    if device.va_only:   # a user's Verilog-A model runs compiled whatever form was asked
        form = "va"
    elements = (VoltageSource("V1", ("a", "0"), 0.0, wave), device.instance(INSTANCE, "a", "0", x0, form=form))
    if form == "behavioural":
        return Circuit(f"memcircuit {device.name} (behavioural)", elements=elements,
                       subckts=(device.behavioural_subckt(),), options=options)
    return Circuit(f"memcircuit {device.name} (Verilog-A)", elements=elements, models=(device.osdi_model(),),
                   osdi=(device.osdi_path(),), options=options)


def simulate(device: ExprDevice, wave: Sine | Pwl, stop: float, x0: float, *, form: str = "behavioural",
             points: int = 2000, engine: str = "batch", options: tuple = ()) -> dict[str, np.ndarray]:
    """Drive ``device`` with ``wave`` from 0 to ``stop`` s starting at state ``x0``.

    ngspice forms print ``points`` steps (the internal step is capped at the same interval) with
    the ngspice ``.options`` given (e.g. ``(("reltol", 1e-6),)``); the numeric twin integrates
    on the same grid (plus every PWL corner)."""
    form = canonical_form(form)
    if not stop > 0 or points < 10:
        raise ConfigError(f"simulation needs stop > 0 s and >= 10 points (got {stop}, {points})")
    step = stop / points
    if form == "numeric":
        if isinstance(wave, Sine):
            t = np.linspace(0.0, stop, points + 1)
            v = wave.offset + wave.amplitude * np.sin(2 * np.pi * wave.freq * (t - wave.delay)) * (t >= wave.delay)
        else:
            t = np.union1d(np.linspace(0.0, stop, points + 1), pwl_times(wave.points))
            t = t[t <= stop]
            v = pwl_samples(wave.points, t)
        x, i = device.integrate(t, v, np.array([x0]))
        return {"time": t, "v": v, "i": i[:, 0], "x": x[:, 0]}
    from memcircuit.spice import run

    result = run(circuit(device, wave, x0, form, options), Tran(step, stop, max_step=step, uic=True), engine=engine)
    return {"time": result.time, "v": result[Voltage("a")], "i": -result[Current("V1")],
            "x": device.read_state(result, INSTANCE, x0, form)}
