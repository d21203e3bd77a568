"""VTEAM: voltage-controlled threshold memristor with linear or exponential R(w).

Kvatinsky, Ramadan, Friedman, Kolodny, "VTEAM: a general model for voltage-controlled
memristors", IEEE TCAS-II 62(8), 786-790 (2015). With the state scaled to
``x = (w - w_on) / (w_off - w_on)`` in [0, 1] (x = 0: ON, low resistance)::

    dx/dt = k_off / L * (v / v_off - 1)^alpha_off * f_off(x)    for v > v_off > 0
          = k_on  / L * (v / v_on  - 1)^alpha_on  * f_on(x)     for v < v_on  < 0
          = 0                                                   otherwise
    i = v / (R_on + (R_off - R_on) x)              (r_model = linear)
    i = v / (R_on exp(ln(R_off / R_on) x))         (r_model = exponential)

with ``L = w_off - w_on``. Here the threshold kinks are smoothed by a softplus of knee
``v_knee`` V and the windows are the smooth clip ``f_off = tanh((1 - x)/smooth)``,
``f_on = tanh(x/smooth)`` (instead of Kvatinsky's or Biolek's windows: an assumption, see
docs/DEVICES.md): 1 inside the range, 0 on the bound, restoring beyond it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from memcircuit.devices.base import DeviceParams, unit
from memcircuit.devices.equations import Equations
from memcircuit.devices.model import ExprDevice, Preset


@dataclass(frozen=True)
class VteamParams(DeviceParams):
    """VTEAM parameters (defaults: the set shipped with MemTorch for the VTEAM model)."""

    r_on: float = field(default=50.0, metadata=unit("ohm", "ON resistance (x = 0)"))
    r_off: float = field(default=1e3, metadata=unit("ohm", "OFF resistance (x = 1)"))
    k_on: float = field(default=-10.0, metadata=unit("m/s", "ON rate constant (< 0)"))
    k_off: float = field(default=5e-4, metadata=unit("m/s", "OFF rate constant (> 0)"))
    alpha_on: float = field(default=3.0, metadata=unit("1", "ON rate exponent"))
    alpha_off: float = field(default=1.0, metadata=unit("1", "OFF rate exponent"))
    v_on: float = field(default=-0.2, metadata=unit("V", "ON threshold (< 0)"))
    v_off: float = field(default=0.02, metadata=unit("V", "OFF threshold (> 0)"))
    w_span: float = field(default=3e-9, metadata=unit("m", "state range w_off - w_on"))
    v_knee: float = field(default=1e-3, metadata=unit("V", "softplus knee of the thresholds"))
    smooth: float = field(default=1e-2, metadata=unit("1", "width of the smooth state clip"))
    r_model: str = field(default="linear", metadata=unit("", "linear | exponential"))


class Vteam(ExprDevice):
    """VTEAM (see the module docstring)."""

    family = "vteam"
    name = "vteam"
    params_class = VteamParams
    va_file = "vteam.va"
    variant_field = "r_model"
    variants = ("linear", "exponential")
    d2d_params = ("r_on", "r_off", "k_on", "k_off", "v_on", "v_off")
    rules = {"r_on > 0": "r_on must be > 0 ohm", "r_off > r_on": "r_off must exceed r_on",
             "k_on < 0": "k_on must be < 0 m/s", "k_off > 0": "k_off must be > 0 m/s",
             "v_on < 0": "v_on must be < 0 V", "v_off > 0": "v_off must be > 0 V",
             "(alpha_on > 0) & (alpha_off > 0)": "alpha_on and alpha_off must be > 0",
             "w_span > 0": "w_span must be > 0 m", "v_knee > 0": "v_knee must be > 0 V",
             "(smooth > 0) & (smooth < 0.1)": "smooth must be in (0, 0.1)"}
    source = "Kvatinsky et al., IEEE TCAS-II 62(8), 786 (2015)"
    demo = (1.0, 50e6, 0.5)

    @classmethod
    def equations_for(cls, variant):
        cur = {"linear": "v/(r_on + (r_off - r_on)*x)",
               "exponential": "v*exp(-ln(r_off/r_on)*x)/r_on"}[variant]
        return Equations(
            defs=(("roff_rate", "k_off/w_span*pow(sp(v - v_off, v_knee)/v_off, alpha_off)"),
                  ("ron_rate", "k_on/w_span*pow(sp(v_on - v, v_knee)/(-v_on), alpha_on)")),
            current=cur,
            dxdt="roff_rate*bnd(1 - x, smooth) + ron_rate*bnd(x, smooth)",
        )


PRESETS = {
    "vteam-memtorch": Preset("vteam", {}, "Kvatinsky et al., IEEE TCAS-II 62(8) (2015); parameter set of the VTEAM "
                             "model in MemTorch (Lammie et al., Neurocomputing 485, 2022): R_on 50, R_off 1k, "
                             "k_on -10 m/s, k_off 5e-4 m/s, alpha_on 3, alpha_off 1, v_on -0.2 V, v_off 0.02 V, "
                             "w_off - w_on = 3 nm"),
    "vteam-exp": Preset("vteam", {"r_model": "exponential"}, "as vteam-memtorch, exponential R(w) of "
                        "Kvatinsky et al. (2015), Eq. (6)"),
}
