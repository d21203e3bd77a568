"""Pulse-response devices: a closed-form conductance update per standard pulse that is also a
voltage-controlled circuit element.

A pulse family states its response to ``n`` **standard pulses** (amplitude ``v_pulse`` V, width
``t_pulse`` s) in closed form (:meth:`PulseDevice.closed_form`). As a circuit element the same
device moves its state at a rate measured in standard pulses per second::

    r_set(v)   = sp(v - v_th, v_knee) / sp(v_pulse - v_th, v_knee) / t_pulse    (v > 0)
    r_reset(v) = sp(-v - v_th, v_knee) / sp(v_pulse - v_th, v_knee) / t_pulse   (v < 0)

(``sp``: softplus, a smooth ``max(., 0)``), so the rate is zero below the threshold ``v_th``,
linear in the over-drive above it (conductance change proportional to pulse duration x
over-drive, the programming rule of Soudry et al., IEEE TNNLS 26(10), 2015), and a pulse of
``v_pulse`` for ``t_pulse`` is exactly one standard pulse. The state ODE is the closed form's
own differential equation in the pulse count, so integrating it over a pulse train reproduces
the closed form up to the smooth clip at the bounds (``smooth``). A rectangular pulse of any
amplitude and width counts as ``n = width * r(amplitude)`` standard pulses; cycle-to-cycle
noise adds ``sigma * sqrt(n)`` (state units, Gaussian) so it does not depend on how a pulse is
split into pieces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from memcircuit.devices.base import DeviceParams, unit
from memcircuit.devices.model import ExprDevice
from memcircuit.errors import ConfigError

RATE_DEFS = (
    ("r_set", "sp(v - v_th, v_knee)/sp(v_pulse - v_th, v_knee)/t_pulse"),
    ("r_reset", "sp(-v - v_th, v_knee)/sp(v_pulse - v_th, v_knee)/t_pulse"),
)
PULSE_RULES = {"v_pulse > v_th": "the standard pulse v_pulse must exceed the threshold v_th",
               "v_th >= 0": "v_th must be >= 0 V", "t_pulse > 0": "t_pulse must be > 0 s",
               "v_knee > 0": "v_knee must be > 0 V", "(smooth > 0) & (smooth < 0.1)": "smooth must be in (0, 0.1)"}


@dataclass(frozen=True)
class PulseParams(DeviceParams):
    """Standard pulse and switching threshold shared by the pulse-response families."""

    v_pulse: float = field(default=1.0, metadata=unit("V", "amplitude of the standard pulse"))
    t_pulse: float = field(default=100e-9, metadata=unit("s", "width of the standard pulse"))
    v_th: float = field(default=0.6, metadata=unit("V", "switching threshold (both polarities)"))
    v_knee: float = field(default=0.02, metadata=unit("V", "softplus knee of the threshold"))
    smooth: float = field(default=2e-3, metadata=unit("1", "width of the smooth state clip"))


class PulseDevice(ExprDevice):
    """Base of the pulse-response families (see the module docstring)."""

    noise_field: ClassVar[str] = ""   # parameter holding the cycle-to-cycle sigma
    standard_pulse: ClassVar[bool] = True

    @property
    def demo(self) -> tuple[float, float, float]:  # type: ignore[override]
        """I-V sweep that shows the loop: twice the threshold, at a frequency scaled with the
        standard pulse (1e5 Hz for 100 ns pulses), from mid state."""
        v_th = float(np.mean(self.params.v_th))
        return (2.0 * v_th if v_th > 0 else 1.2, 1e-2 / float(np.mean(self.params.t_pulse)), 0.5)

    def pulse_counts(self, amplitude, width) -> tuple[np.ndarray, np.ndarray]:
        """Standard-pulse equivalents ``(n_set, n_reset)`` of rectangular pulses."""
        a = np.asarray(amplitude, dtype=float)
        w = np.asarray(width, dtype=float)
        # array methods, not np.any/np.all: this runs at every interval of every program
        if (w < 0).any() or not np.isfinite(w).all() or not np.isfinite(a).all():
            raise ConfigError("pulse widths must be finite and >= 0 s, amplitudes finite")
        r_set, r_reset = self.evaluate(a, 0.0, ("r_set", "r_reset"))
        return w * r_set, w * r_reset

    def closed_form(self, x: np.ndarray, n_set: np.ndarray, n_reset: np.ndarray) -> np.ndarray:
        """State after ``n_set`` then ``n_reset`` standard pulses (no noise, not clipped)."""
        raise NotImplementedError

    def noise_scale(self) -> np.ndarray | float:
        """Standard deviation of the state change of one standard pulse (state units)."""
        return getattr(self.params, self.noise_field) if self.noise_field else 0.0

    def apply_pulse(self, x: np.ndarray, amplitude: np.ndarray | float, width: np.ndarray | float,
                    rng: np.random.Generator | None = None) -> np.ndarray:
        """State after one rectangular pulse (closed form, clipped to [0, 1]); with ``rng``,
        plus cycle-to-cycle noise ``sigma * sqrt(n)`` for a pulse worth ``n`` standard pulses."""
        n_set, n_reset = self.pulse_counts(amplitude, width)
        x = np.asarray(x, dtype=float)
        x1 = self.closed_form(x, n_set, n_reset)
        sigma = self.noise_scale()
        if rng is not None and (np.asarray(sigma) > 0).any():
            n = n_set + n_reset
            x1 = x1 + sigma * np.sqrt(n) * rng.standard_normal(np.broadcast(x1, n).shape)
        return np.clip(x1, self.x_min, self.x_max)

    def pulse_train(self, x0: float | np.ndarray, n: int, polarity: int = 1,
                    rng: np.random.Generator | None = None) -> np.ndarray:
        """States after each of ``n`` standard pulses of sign ``polarity``: shape ``(n + 1, ...)``
        with the start state first."""
        if polarity not in (1, -1):
            raise ConfigError(f"polarity must be +1 or -1, got {polarity}")
        out = [np.asarray(x0, dtype=float)]
        for _ in range(int(n)):
            out.append(self.apply_pulse(out[-1], polarity * self.params.v_pulse, self.params.t_pulse, rng))
        return np.stack(out)
