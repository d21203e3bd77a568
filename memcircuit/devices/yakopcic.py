"""Yakopcic generalised memristor model.

Yakopcic, Taha, Subramanyam, Pino, Rogers, "A memristor device model", IEEE EDL 32(10),
1436-1438 (2011); SPICE form in IEEE TCAD 32(8), 1201-1214 (2013)::

    i = a1 x sinh(b v)  (v >= 0),   a2 x sinh(b v)  (v < 0)
    g(v) = Ap (e^v - e^Vp)  (v > Vp),   -An (e^-v - e^Vn)  (v < -Vn),   0 otherwise
    f(x) = e^(-alpha_p (x - xp)) wp(x)  (v > 0, x >= xp),  wp = (xp - x)/(1 - xp) + 1
         = e^( alpha_n (x + xn - 1)) wn(x)  (v <= 0, x <= 1 - xn),  wn = x / (1 - xn)
         = 1 otherwise
    dx/dt = eta g(v) f(x)

Smoothed here: the a1/a2 switch is a logistic of width ``v_knee`` (sinh(0) = 0, so the current
is unchanged), the kinks at Vp, -Vn, xp and 1 - xn are softplus of knees ``v_knee`` (V) and
``smooth`` (state). Voltages in the exponentials are in volts (the model's own convention).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from memcircuit.devices.base import DeviceParams, unit
from memcircuit.devices.equations import Equations
from memcircuit.devices.model import ExprDevice, Preset


@dataclass(frozen=True)
class YakopcicParams(DeviceParams):
    """Yakopcic parameters (defaults: the Oblea et al. Ag-chalcogenide device fit,
    Yakopcic et al., IEEE EDL 2011 / TCAD 2013)."""

    a1: float = field(default=0.17, metadata=unit("A", "current scale for v >= 0"))
    a2: float = field(default=0.17, metadata=unit("A", "current scale for v < 0"))
    b: float = field(default=0.05, metadata=unit("1/V", "sinh slope"))
    vp: float = field(default=0.16, metadata=unit("V", "positive threshold"))
    vn: float = field(default=0.15, metadata=unit("V", "negative threshold (magnitude)"))
    ap: float = field(default=4000.0, metadata=unit("1/s", "positive switching rate"))
    an: float = field(default=4000.0, metadata=unit("1/s", "negative switching rate"))
    xp: float = field(default=0.3, metadata=unit("1", "state where the positive window starts"))
    xn: float = field(default=0.5, metadata=unit("1", "1 - state where the negative window starts"))
    alpha_p: float = field(default=1.0, metadata=unit("1", "positive window decay"))
    alpha_n: float = field(default=5.0, metadata=unit("1", "negative window decay"))
    eta: float = field(default=1.0, metadata=unit("1", "direction of the state motion (+1 or -1)"))
    v_knee: float = field(default=2e-3, metadata=unit("V", "softplus knee of the thresholds"))
    smooth: float = field(default=2e-3, metadata=unit("1", "softplus knee of the state windows"))


class Yakopcic(ExprDevice):
    """Yakopcic model (see the module docstring)."""

    family = "yakopcic"
    name = "yakopcic"
    params_class = YakopcicParams
    va_file = "yakopcic.va"
    d2d_params = ("a1", "a2", "vp", "vn", "ap", "an")
    rules = {"(a1 > 0) & (a2 > 0)": "a1, a2 must be > 0 A", "b > 0": "b must be > 0 1/V",
             "(vp >= 0) & (vn >= 0)": "thresholds vp, vn must be >= 0 V", "(ap >= 0) & (an >= 0)": "ap, an >= 0",
             "(xp > 0) & (xp < 1) & (xn > 0) & (xn < 1)": "xp, xn must be in (0, 1)",
             "(v_knee > 0) & (smooth > 0)": "v_knee and smooth must be > 0"}
    source = "Yakopcic et al., IEEE EDL 32(10), 1436 (2011); IEEE TCAD 32(8), 1201 (2013)"
    demo = (0.45, 100.0, 0.11)

    @classmethod
    def equations_for(cls, variant):
        return Equations(
            defs=(("gp", "ap*exp(vp)*(exp(sp(v - vp, v_knee)) - 1)"),
                  ("gn", "an*exp(vn)*(exp(sp(-v - vn, v_knee)) - 1)"),
                  ("up", "sp(x - xp, smooth)"),
                  ("un", "sp(1 - xn - x, smooth)")),
            current="(a2 + (a1 - a2)*sig(v, v_knee))*x*sinh(b*v)",
            dxdt="eta*(gp*exp(-alpha_p*up)*(1 - up/(1 - xp)) - gn*exp(-alpha_n*un)*(1 - un/(1 - xn)))",
        )


PRESETS = {
    "yakopcic-2011": Preset("yakopcic", {}, "Yakopcic et al., IEEE EDL 32(10) (2011) / IEEE TCAD 32(8) (2013): fit "
                            "to the Ag-chalcogenide device of Oblea et al. (a1 = a2 = 0.17, b = 0.05, Vp = 0.16, "
                            "Vn = 0.15, Ap = An = 4000, xp = 0.3, xn = 0.5, alpha_p = 1, alpha_n = 5, x0 = 0.11)"),
}
