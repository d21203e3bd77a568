"""Exponential pulse-response (soft-bounds, NeuroSim-style) synapse with LTP/LTD asymmetry.

NeuroSim's non-linear weight update (Chen, Peng, Yu, "NeuroSim: a circuit-level macro model
for benchmarking neuro-inspired architectures in online learning", IEEE TCAD 37(12), 3067
(2018); Yu's group's MLP+NeuroSim manual)::

    G_LTP(P) = B (1 - exp(-P / A)) + G_min,   B = (G_max - G_min) / (1 - exp(-P_max / A))

for ``P`` potentiating pulses from ``G_min``, and the mirror image for depression from
``G_max``, with its own ``A``. Here ``A`` is given relative to the pulse count,
``a_ltp = A_LTP / n_ltp`` (small a: strongly non-linear; large a: linear), and the state is
``x = (G - G_min)/(G_max - G_min)``. In the pulse count ``P`` the curve obeys
``dx/dP = (x_inf - x) / (a n)`` with ``x_inf = 1 / (1 - exp(-1/a))`` (> 1), which is the
state ODE of the circuit form (see :mod:`memcircuit.devices.pulse`); the state stops at 1 (0)
like NeuroSim's clipping at ``G_max`` (``G_min``). Cycle-to-cycle noise ``sigma_c2c`` is the
standard deviation of one standard pulse's change in units of the conductance range.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq

from memcircuit.devices.base import unit
from memcircuit.devices.equations import Equations
from memcircuit.devices.model import Preset
from memcircuit.devices.pulse import PULSE_RULES, RATE_DEFS, PulseDevice, PulseParams
from memcircuit.errors import ConfigError


@dataclass(frozen=True)
class ExpPulseParams(PulseParams):
    """Exponential pulse-response parameters (defaults: a generic RRAM synapse, 100 levels
    each way, moderately non-linear; presets carry published sets)."""

    g_min: float = field(default=2e-6, metadata=unit("S", "lowest conductance"))
    g_max: float = field(default=20e-6, metadata=unit("S", "highest conductance"))
    n_ltp: float = field(default=100.0, metadata=unit("pulses", "standard pulses from g_min to g_max"))
    n_ltd: float = field(default=100.0, metadata=unit("pulses", "standard pulses from g_max to g_min"))
    a_ltp: float = field(default=0.5, metadata=unit("1", "LTP non-linearity A_LTP / n_ltp (large: linear)"))
    a_ltd: float = field(default=0.5, metadata=unit("1", "LTD non-linearity A_LTD / n_ltd (large: linear)"))
    sigma_c2c: float = field(default=0.0, metadata=unit("1", "cycle-to-cycle sigma per standard pulse, "
                                                             "fraction of the range"))


class ExpPulse(PulseDevice):
    """NeuroSim-style exponential pulse response (see the module docstring)."""

    family = "exp_pulse"
    name = "exp-pulse"
    ohmic = True  # current = G(x) v
    params_class = ExpPulseParams
    va_file = "exp_pulse.va"
    noise_field = "sigma_c2c"
    d2d_params = ("g_min", "g_max", "a_ltp", "a_ltd")
    rules = {**PULSE_RULES, "g_min > 0": "g_min must be > 0 S", "g_max > g_min": "g_max must exceed g_min",
             "(n_ltp >= 1) & (n_ltd >= 1)": "n_ltp and n_ltd must be >= 1 pulse",
             "(a_ltp > 0) & (a_ltd > 0)": "a_ltp and a_ltd must be > 0", "sigma_c2c >= 0": "sigma_c2c must be >= 0"}
    source = "Chen, Peng, Yu, IEEE TCAD 37(12), 3067 (2018) (NeuroSim non-linear weight update)"

    @classmethod
    def equations_for(cls, variant):
        return Equations(
            defs=RATE_DEFS + (("xinf_p", "1/(1 - exp(-1/a_ltp))"), ("xinf_d", "1 - 1/(1 - exp(-1/a_ltd))")),
            current="(g_min + (g_max - g_min)*x)*v",
            dxdt="r_set*(xinf_p - x)/(a_ltp*n_ltp)*bnd(1 - x, smooth) "
                 "- r_reset*(x - xinf_d)/(a_ltd*n_ltd)*bnd(x, smooth)",
        )

    def closed_form(self, x, n_set, n_reset):
        p = self.params
        xinf_p = -1.0 / np.expm1(-1.0 / np.asarray(p.a_ltp))
        xinf_d = 1.0 + 1.0 / np.expm1(-1.0 / np.asarray(p.a_ltd))
        x = np.minimum(x, 1.0)  # a state already at the bound does not move past it
        x = x + (xinf_p - x) * -np.expm1(-n_set / (p.a_ltp * p.n_ltp))
        x = np.minimum(x, 1.0)
        x = np.maximum(x, 0.0)
        return x + (xinf_d - x) * -np.expm1(-n_reset / (p.a_ltd * p.n_ltd))


def _max_deviation(a: float) -> float:
    """Largest distance ``x(p) - p`` of the normalised LTP curve from the straight line."""
    p_star = -a * np.log(a * -np.expm1(-1.0 / a))   # where dx/dp = 1
    return float(-np.expm1(-p_star / a) / -np.expm1(-1.0 / a) - p_star)


def neurosim_a(nl: float) -> float:
    """Normalised ``a = A / P_max`` for a NeuroSim non-linearity label ``NL`` (0.01 .. 9).

    NeuroSim tabulates A against its label (``getParamA`` in MLP+NeuroSim, Chen et al. 2018);
    the table is the curve whose largest deviation ``max_p (x(p) - p)`` equals
    ``0.07 * sqrt(2) * |NL|`` (we checked this against the tabulated values at NL = 0.01,
    0.1, 0.39, 0.5 and 9, to 6 digits), which is what this function solves. The sign of NL only
    says LTP (+) or LTD (-); here both curves use the magnitude."""
    target = 0.07 * np.sqrt(2.0) * abs(float(nl))
    if not 0 < target < 0.99:
        raise ConfigError(f"NeuroSim non-linearity label must be in (0, 10), got {nl}")
    return float(np.exp(brentq(lambda la: _max_deviation(np.exp(la)) - target, np.log(1e-4), np.log(1e4),
                                xtol=1e-14)))


PRESETS = {
    "exp-generic": Preset("exp-pulse", {}, "generic RRAM synapse in the NeuroSim form (Chen et al., IEEE TCAD "
                          "37(12), 2018): 100 pulses each way, a = 0.5, on/off 10"),
    "ag-si-neurosim": Preset(
        "exp-pulse",
        {"g_min": 3.0769e-9, "g_max": 3.8462e-8, "n_ltp": 97.0, "n_ltd": 100.0, "a_ltp": neurosim_a(2.4),
         "a_ltd": neurosim_a(4.88), "sigma_c2c": 0.035, "v_pulse": 3.2, "v_th": 1.7, "t_pulse": 300e-6},
        "Ag:a-Si synapse (Jo et al., Nano Lett. 10, 1297 (2010)) as parametrised in MLP+NeuroSim (Chen, Peng, "
        "Yu, IEEE TCAD 37(12), 2018): R_on 26 Mohm, on/off 12.5, 97 LTP / 100 LTD levels, NL 2.4 / -4.88, "
        "cycle-to-cycle sigma 3.5 % of the range, 3.2 V x 300 us write pulses",
        note="NeuroSim's LTD pulses are 2.8 V; here both polarities use the 3.2 V standard pulse; v_th = 1.7 V "
             "is our choice (V/2 = 1.6 V stays below it)"),
}
