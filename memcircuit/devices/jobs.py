"""The ``device`` job kind of ``memcircuit sweep``: one device I-V sweep or pulse train, metrics as
a flat dict.

The simulations are the ones ``memcircuit models iv`` and ``memcircuit models pulses`` run
(:func:`memcircuit.devices.simulate.simulate` with a sine or a PWL pulse train,
:func:`~memcircuit.devices.analysis.lobe_areas`, the numeric twin's ``apply_pulse``).

``params`` (JSON-able, SI units):

* ``device`` (default ``"exp-pulse"``): family or preset name, or ``{"name": ..., <param>: value}``;
  flat ``device.<param>`` keys override single parameters (the sweep's dotted axes), e.g.
  ``device.a_ltp: [0.2, 0.5]``; values may carry SI prefixes (``"20k"``);
* ``mode``: ``"iv"`` (default) or ``"pulses"``; ``form``: ``"behavioural"`` (default), ``"va"``
  (Verilog-A through OSDI) or ``"numeric"`` (the twin integrates the same waveform); ``x0``:
  initial state (default: the preset's or the model's; for pulses the bound they move away from);
* iv: ``amp`` (V) and ``freq`` (Hz) (default: the model's demo sweep), ``cycles`` (2),
  ``points`` per period (1000);
* pulses: ``n`` (20), ``amp`` (V, magnitude) and ``width`` (s) (default: the family's standard
  pulse ``v_pulse``/``t_pulse``), ``polarity`` (``"+"``/``"-"`` or +1/-1), ``gap``/``edge`` (s,
  default width / width/50), ``v_read`` (V, 0.1), ``seed`` (optional: cycle-to-cycle noise in the
  twin's prediction from that seed; without it the twin is noise-free).

Metrics: iv: ``lobe_area_pos``/``lobe_area_neg`` (W), ``x_min``/``x_max``/``x_final``, ``i_peak``
(A); pulses: ``g_initial``/``g_final``/``g_max_reached``/``g_min_reached`` (S, chord conductance
at ``v_read``), ``x_final``, the twin's ``g_final_numeric``/``x_final_numeric`` and
``twin_rel_diff`` (``|g_final - g_final_numeric| / g_final_numeric``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from memcircuit.devices.model import ExprDevice
from memcircuit.errors import ConfigError
from memcircuit.units import parse_si

_DEVICE_DEFAULT = "exp-pulse"
_IV_KEYS = {"amp", "freq", "cycles", "points"}
_PULSE_KEYS = {"n", "amp", "width", "polarity", "gap", "edge", "v_read", "seed"}


def device_from_params(params: dict[str, Any]) -> tuple[str, ExprDevice, float]:
    """``(name, device, spread)`` from ``params["device"]`` and flat ``device.<param>`` keys,
    which are removed from ``params``. ``spread`` (the key ``spread``: relative sigma of
    device-to-device variation, 0 if absent) is returned, not applied."""
    from memcircuit.devices import get_device

    spec = params.pop("device", _DEVICE_DEFAULT)
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict):
        raise ConfigError(f"device must be a model name or a mapping with 'name', got {spec!r}")
    spec = dict(spec)
    for key in [k for k in params if k.startswith("device.")]:
        spec[key.split(".", 1)[1]] = params.pop(key)
    name = str(spec.pop("name", _DEVICE_DEFAULT))
    spread = float(spec.pop("spread", 0.0))
    if spread < 0:
        raise ConfigError(f"device spread must be >= 0, got {spread}")
    return name, get_device(name, **spec), spread


def number(params: dict[str, Any], key: str, default: Any = None) -> float | None:
    """``params[key]`` as an SI float (numbers or strings such as ``"100n"``), else ``default``."""
    value = params.get(key, default)
    return None if value is None else parse_si(value, name=key)


def _start_state(name: str, device: ExprDevice, x0: float | None) -> float:
    """``x0`` checked against the device's state range, else the preset's or the model's start."""
    from memcircuit.devices import default_x0

    value = x0 if x0 is not None else default_x0(name)
    value = device.demo[2] if value is None else float(value)
    if not device.x_min <= value <= device.x_max:
        raise ConfigError(f"x0 must lie in [{device.x_min}, {device.x_max}], got {value}")
    return value


def _iv(name: str, device: ExprDevice, p: dict[str, Any], form: str, x0: float | None) -> dict[str, Any]:
    from memcircuit.devices.analysis import lobe_areas
    from memcircuit.devices.simulate import simulate
    from memcircuit.netlist import Sine

    d_amp, d_freq, _ = device.demo
    amp, freq = number(p, "amp", d_amp), number(p, "freq", d_freq)
    cycles, points = number(p, "cycles", 2.0), int(p.get("points", 1000))
    if not (amp > 0 and freq > 0 and cycles > 0):
        raise ConfigError(f"an I-V sweep needs amp > 0 V, freq > 0 Hz and cycles > 0 (got {amp}, {freq}, {cycles})")
    start = _start_state(name, device, x0)
    record = simulate(device, Sine(0.0, amp, freq), cycles / freq, start, form=form,
                      points=max(10, int(points * cycles)))
    pos, neg = lobe_areas(record["v"], record["i"])
    return {"amp": amp, "freq": freq, "x0": start, "lobe_area_pos": pos, "lobe_area_neg": neg,
            "x_min": float(record["x"].min()), "x_max": float(record["x"].max()),
            "x_final": float(record["x"][-1]), "i_peak": float(np.max(np.abs(record["i"])))}


def _pulses(name: str, device: ExprDevice, p: dict[str, Any], form: str, x0: float | None) -> dict[str, Any]:
    from memcircuit.devices.analysis import pulse_train_wave
    from memcircuit.devices.simulate import simulate
    from memcircuit.netlist import Pwl

    n = int(p.get("n", 20))
    amp = number(p, "amp", getattr(device.params, "v_pulse", None))
    width = number(p, "width", getattr(device.params, "t_pulse", None))
    if amp is None or width is None:
        raise ConfigError(f"{name} has no standard pulse: give the pulses' amp (V) and width (s)")
    amp = abs(amp)
    sign = -1.0 if p.get("polarity", "+") in ("-", -1) else 1.0
    v_read = number(p, "v_read", 0.1)
    if not (n >= 1 and amp > 0 and v_read > 0):
        raise ConfigError(f"a pulse train needs n >= 1, amp > 0 V and v_read > 0 V (got {n}, {amp}, {v_read})")
    # positive pulses raise the state in every family: start from the bound they move away from
    start = _start_state(name, device, x0 if x0 is not None else (device.x_min if sign > 0 else device.x_max))
    points, reads, stop = pulse_train_wave(n, sign * amp, width, gap=number(p, "gap"), edge=number(p, "edge"))
    record = simulate(device, Pwl(points), stop, start, form=form, points=max(2000, 40 * n))
    x = np.r_[start, np.interp(reads, record["time"], record["x"])]
    rng = None if p.get("seed") is None else np.random.default_rng(int(p["seed"]))
    x_twin = np.array([start])
    for _ in range(n):
        x_twin = device.apply_pulse(x_twin, sign * amp, width, rng=rng)
    g = device.conductance(x, v_read)
    g_twin = float(device.conductance(x_twin, v_read)[0])
    return {"amp": sign * amp, "width": width, "x0": start, "x_final": float(x[-1]),
            "g_initial": float(g[0]), "g_final": float(g[-1]), "g_max_reached": float(g.max()),
            "g_min_reached": float(g.min()), "x_final_numeric": float(x_twin[0]), "g_final_numeric": g_twin,
            "twin_rel_diff": abs(float(g[-1]) - g_twin) / abs(g_twin)}


def _inputs(params: dict[str, Any]) -> tuple[str, ExprDevice, str, str, float | None, dict[str, Any]]:
    """``(name, device, mode, form, x0, rest)`` of a device job; :class:`ConfigError` naming the
    first unknown key or malformed value."""
    from memcircuit.devices.model import canonical_form

    p = dict(params)
    name, device, spread = device_from_params(p)
    if spread:
        raise ConfigError("the device job simulates one nominal device: device.spread applies to tile jobs")
    mode = p.pop("mode", "iv")
    form = p.pop("form", "behavioural")
    canonical_form(form)
    x0 = p.pop("x0", None)
    allowed = {"iv": _IV_KEYS, "pulses": _PULSE_KEYS}.get(mode)
    if allowed is None:
        raise ConfigError(f"device job mode must be 'iv' or 'pulses', got {mode!r}")
    unknown = set(p) - allowed
    if unknown:
        raise ConfigError(f"unknown {mode} parameter(s): {', '.join(sorted(unknown))}; valid: "
                          f"device, device.<param>, mode, form, x0, {', '.join(sorted(allowed))}")
    if p.get("polarity", "+") not in ("+", "-", 1, -1):
        raise ConfigError(f"polarity must be '+', '-', 1 or -1, got {p['polarity']!r}")
    for key in set(p) - {"polarity"}:
        number(p, key)
    return name, device, mode, form, None if x0 is None else parse_si(x0, name="x0"), p


def check_job(params: dict[str, Any]) -> None:
    """Validate a ``device`` job's parameters without simulating (:class:`ConfigError`)."""
    _inputs(params)


def device_job(params: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Run one device I-V sweep or pulse train (see the module doc); returns flat metrics.

    ``workdir`` is the job's scratch directory (unused: the ngspice runs clean up after
    themselves)."""
    name, device, mode, form, x0, p = _inputs(params)
    run = _iv if mode == "iv" else _pulses
    return {"device": name, "mode": mode, "form": form, **run(name, device, p, form, x0)}
