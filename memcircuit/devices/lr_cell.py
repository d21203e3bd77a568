"""Learning-rate cell: a memristor whose conductance scales the weight update (paper 1).

Paper 1 (Yan et al., "Automatic learning-rate adaptation for memristive deep learning systems",
IEEE TNNLS 2023) sets the learning rate with a memristor: adaptation is fast at first, then slow,
following the memristor's conductance change. The cell circuit is not public; this is our
standard form (docs/DEVICES.md, "Assumptions"). Each depressing standard pulse lowers the state along::

    dx/dn = -x^(1 + gamma) / n0       ->   x_n = (x_0^-gamma + gamma n / n0)^(-1/gamma)

(``gamma = 0``: exponential decay ``x_0 exp(-n/n0)``; ``gamma = 1``: the ``1/n`` schedule of
stochastic approximation, Robbins and Monro 1951), and potentiating pulses restore it along the
soft bound ``dx/dn = (1 - x)/n_set``. The conductance ``G = G_min + (G_max - G_min) x`` scales the
update: :meth:`LrCell.lr_scale` is ``G / G_max``. Circuit form: the standard-pulse rates of
:mod:`memcircuit.devices.pulse`, with ``sp(x, smooth)`` in place of ``x`` in the power so that the
state never crosses 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from memcircuit.devices.base import unit
from memcircuit.devices.equations import Equations
from memcircuit.devices.model import Preset
from memcircuit.devices.pulse import PULSE_RULES, RATE_DEFS, PulseDevice, PulseParams


@dataclass(frozen=True)
class LrCellParams(PulseParams):
    """Learning-rate cell parameters (defaults: halves its conductance in n0 = 20 pulses,
    1/n tail)."""

    g_min: float = field(default=1e-6, metadata=unit("S", "lowest conductance"))
    g_max: float = field(default=50e-6, metadata=unit("S", "highest conductance (start)"))
    n0: float = field(default=20.0, metadata=unit("pulses", "decay scale: x halves after n0 pulses from 1 "
                                                            "(gamma = 1)"))
    gamma: float = field(default=1.0, metadata=unit("1", "decay shape: 0 exponential, 1 hyperbolic (1/n)"))
    n_set: float = field(default=10.0, metadata=unit("pulses", "recovery scale of potentiating pulses"))
    sigma_c2c: float = field(default=0.0, metadata=unit("1", "cycle-to-cycle sigma per standard pulse"))


class LrCell(PulseDevice):
    """Learning-rate memristor cell (see the module docstring)."""

    family = "lr_cell"
    name = "lr-cell"
    ohmic = True  # current = G(x) v
    params_class = LrCellParams
    va_file = "lr_cell.va"
    noise_field = "sigma_c2c"
    d2d_params = ("g_min", "g_max", "n0")
    rules = {**PULSE_RULES, "g_min > 0": "g_min must be > 0 S", "g_max > g_min": "g_max must exceed g_min",
             "(n0 > 0) & (n_set > 0)": "n0 and n_set must be > 0 pulses", "gamma >= 0": "gamma must be >= 0",
             "sigma_c2c >= 0": "sigma_c2c must be >= 0"}
    source = "paper 1 (Yan et al., IEEE TNNLS 2023); standard form, see docs/DEVICES.md (Assumptions)"

    @classmethod
    def equations_for(cls, variant):
        return Equations(
            defs=RATE_DEFS,
            current="(g_min + (g_max - g_min)*x)*v",
            dxdt="r_set*(1 - x)/n_set - r_reset*pow(sp(x, smooth), 1 + gamma)/n0*bnd(x, smooth)",
        )

    def closed_form(self, x, n_set, n_reset):
        p = self.params
        x = 1.0 - (1.0 - np.minimum(x, 1.0)) * np.exp(-n_set / p.n_set)
        x = np.maximum(x, 0.0)
        gamma = np.asarray(p.gamma, dtype=float)
        g = np.where(gamma > 0, gamma, 1.0)
        with np.errstate(divide="ignore", over="ignore"):
            hyper = np.power(np.power(np.maximum(x, 1e-300), -g) + g * n_reset / p.n0, -1.0 / g)
        return np.where(gamma > 0, np.where(x > 0, hyper, 0.0), x * np.exp(-n_reset / p.n0))

    def lr_scale(self, x: np.ndarray) -> np.ndarray:
        """Learning-rate factor ``G(x) / G_max`` (1 at the start, falling with use)."""
        p = self.params
        return (p.g_min + (p.g_max - p.g_min) * np.asarray(x, dtype=float)) / p.g_max


PRESETS = {
    "lr-cell-hyperbolic": Preset("lr-cell", {"gamma": 1.0, "n0": 20.0}, "paper 1 standard form: 1/n decay"),
    "lr-cell-exponential": Preset("lr-cell", {"gamma": 0.0, "n0": 30.0}, "paper 1 standard form: exponential decay"),
}
