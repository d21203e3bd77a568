"""Discrete-level device: N conductance levels between G_min and G_max = ratio x G_min.

For the stochastic-training study of paper 5 (Babu et al., "Stochastic deep learning in
memristive networks", arXiv:1711.03640, 2017): devices with a limited dynamic range
(``G_max / G_min`` as low as 15), a finite number of levels (32) and programming variability.
One standard pulse moves the device by one level (up for ``v > 0``, down for ``v < 0``); the
step of each pulse varies by ``sigma_prog`` levels (Gaussian, standard deviation per standard
pulse, ``sigma * sqrt(n)`` for a pulse worth ``n`` standard pulses).

The state ``x`` in [0, 1] is continuous (the filament), the conductance is quantised by a smooth
staircase ``q(u)`` of ``u = x (N - 1)`` (``stair(u) = u - sin(2 pi u)/(2 pi)`` applied twice:
exactly the level on every integer ``u``, flat to about 1e-5 level within +-0.1 level of it, and
smooth so that Newton iterations converge)::

    G = G_min + (G_max - G_min) q(x (N - 1)) / (N - 1),   dx/dt = (r_set - r_reset) / (N - 1)

with the standard-pulse rates of :mod:`memcircuit.devices.pulse`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from memcircuit.devices.base import unit
from memcircuit.devices.equations import Equations
from memcircuit.devices.model import Preset
from memcircuit.devices.pulse import PULSE_RULES, RATE_DEFS, PulseDevice, PulseParams


@dataclass(frozen=True)
class DiscreteParams(PulseParams):
    """Discrete-level parameters (defaults: 32 levels, G_max/G_min = 15, as in paper 5)."""

    g_max: float = field(default=30e-6, metadata=unit("S", "highest conductance"))
    ratio: float = field(default=15.0, metadata=unit("1", "dynamic range G_max / G_min"))
    n_levels: float = field(default=32.0, metadata=unit("levels", "number of conductance levels"))
    sigma_prog: float = field(default=0.0, metadata=unit("levels", "programming variability per standard pulse"))


class Discrete(PulseDevice):
    """Discrete-level device (see the module docstring)."""

    family = "discrete"
    name = "discrete"
    ohmic = True  # current = G(x) v
    params_class = DiscreteParams
    va_file = "discrete.va"
    d2d_params = ("g_max", "ratio")
    rules = {**PULSE_RULES, "g_max > 0": "g_max must be > 0 S", "ratio > 1": "ratio must be > 1",
             "(n_levels >= 2) & (n_levels == np.round(n_levels))": "n_levels must be a whole number >= 2",
             "sigma_prog >= 0": "sigma_prog must be >= 0"}
    source = "Babu et al., arXiv:1711.03640 (2017) (limited levels and dynamic range)"

    @classmethod
    def equations_for(cls, variant):
        return Equations(
            defs=RATE_DEFS + (("lev", "stair(stair(x*(n_levels - 1)))"),),
            current="g_max*(1/ratio + (1 - 1/ratio)*lev/(n_levels - 1))*v",
            dxdt="(r_set*bnd(1 - x, smooth) - r_reset*bnd(x, smooth))/(n_levels - 1)",
        )

    def noise_scale(self):
        return self.params.sigma_prog / (self.params.n_levels - 1)

    def closed_form(self, x, n_set, n_reset):
        return x + (n_set - n_reset) / (self.params.n_levels - 1)


PRESETS = {
    "discrete-32": Preset("discrete", {"n_levels": 32.0, "ratio": 15.0},
                          "Babu et al., arXiv:1711.03640 (2017): 32 levels, G_max/G_min = 15"),
}
