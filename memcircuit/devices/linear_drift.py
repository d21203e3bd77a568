"""Linear ion drift memristor (HP TiO2) with Joglekar, Biolek or Prodromakis windows.

Strukov, Snider, Stewart, Williams, "The missing memristor found", Nature 453, 80-83 (2008):
``v = (R_on x + R_off (1 - x)) i`` and ``dx/dt = mu_v R_on / D^2 * i * f(x)`` with ``x = w / D``
the doped fraction of the film (x = 1: fully doped, R_on). Window functions ``f``:

* ``joglekar``: ``f = 1 - (2x - 1)^(2p)`` (Joglekar and Wolf, Eur. J. Phys. 30, 661 (2009));
* ``biolek``: ``f = 1 - (x - stp(-i))^(2p)`` (Biolek, Biolek, Biolkova, Radioengineering 18(2),
  210 (2009)); the step ``stp`` is smoothed here to a logistic of width ``i_knee`` A;
* ``prodromakis``: ``f = j (1 - ((x - 1/2)^2 + 3/4)^p)`` (Prodromakis et al., IEEE TED 58(9),
  3099 (2011)).

All three windows vanish at the bounds, so the state stays in [0, 1] without clipping.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from memcircuit.devices.base import DeviceParams, unit
from memcircuit.devices.equations import Equations
from memcircuit.devices.model import ExprDevice, Preset

WINDOWS = ("joglekar", "biolek", "prodromakis")


@dataclass(frozen=True)
class LinearDriftParams(DeviceParams):
    """Parameters of the linear ion drift model (defaults: HP TiO2, Strukov et al. 2008)."""

    r_on: float = field(default=100.0, metadata=unit("ohm", "resistance when fully doped (x = 1)"))
    r_off: float = field(default=16e3, metadata=unit("ohm", "resistance when undoped (x = 0)"))
    d: float = field(default=10e-9, metadata=unit("m", "film thickness D"))
    mu_v: float = field(default=1e-14, metadata=unit("m^2/(V s)", "dopant mobility"))
    p_win: float = field(default=2.0, metadata=unit("1", "window exponent p"))
    j_win: float = field(default=1.0, metadata=unit("1", "Prodromakis window scale j"))
    i_knee: float = field(default=1e-9, metadata=unit("A", "width of the smoothed Biolek step"))
    window: str = field(default="joglekar", metadata=unit("", "joglekar | biolek | prodromakis"))


class LinearDrift(ExprDevice):
    """Linear ion drift memristor (see the module docstring)."""

    family = "linear_drift"
    name = "linear-drift"
    params_class = LinearDriftParams
    va_file = "linear_drift.va"
    variant_field = "window"
    variants = WINDOWS
    d2d_params = ("r_on", "r_off", "mu_v")
    rules = {"r_on > 0": "r_on must be > 0 ohm", "r_off > r_on": "r_off must exceed r_on",
             "d > 0": "d must be > 0 m", "mu_v > 0": "mu_v must be > 0", "p_win > 0": "p_win must be > 0",
             "j_win > 0": "j_win must be > 0", "i_knee > 0": "i_knee must be > 0 A"}
    source = "Strukov et al., Nature 453, 80 (2008); windows: Joglekar 2009, Biolek 2009, Prodromakis 2011"
    demo = (1.0, 1.0, 0.1)

    @classmethod
    def equations_for(cls, variant):
        win = {
            "joglekar": "1 - pow(abs(2*x - 1), 2*p_win)",
            "biolek": "1 - pow(abs(x - sig(-cur, i_knee)), 2*p_win)",
            "prodromakis": "j_win*(1 - pow((x - 0.5)*(x - 0.5) + 0.75, p_win))",
        }[variant]
        return Equations(
            defs=(("cur", "v/(r_on*x + r_off*(1 - x))"),),
            current="cur",
            dxdt=f"mu_v*r_on/(d*d)*cur*({win})",
        )


PRESETS = {
    "strukov-2008": Preset("linear-drift", {"r_on": 100.0, "r_off": 16e3, "d": 10e-9, "mu_v": 1e-14,
                                            "window": "joglekar", "p_win": 1.0},
                           "Strukov et al., Nature 453, 80 (2008), Fig. 2 (R_off/R_on = 160, D = 10 nm, "
                           "mu_v = 1e-10 cm^2/(V s)); window of Joglekar and Wolf, Eur. J. Phys. 30 (2009), p = 1"),
    "biolek-2009": Preset("linear-drift", {"r_on": 1e3, "r_off": 100e3, "d": 10e-9, "mu_v": 1e-14,
                                           "window": "biolek", "p_win": 1.0},
                          "Biolek, Biolek, Biolkova, Radioengineering 18(2), 210 (2009): SPICE listing "
                          "(Ron = 1k, Roff = 100k, D = 10n, uv = 10f, p = 1)"),
    "prodromakis-2011": Preset("linear-drift", {"r_on": 100.0, "r_off": 16e3, "d": 10e-9, "mu_v": 1e-14,
                                                "window": "prodromakis", "p_win": 2.0, "j_win": 1.0},
                               "Prodromakis et al., IEEE TED 58(9), 3099 (2011): window with p = 2, j = 1 "
                               "on the HP device parameters of Strukov et al. 2008"),
}
