"""Pershin-Di Ventra memristor with threshold.

Pershin and Di Ventra, "SPICE model of memristive devices with threshold", Radioengineering
22(2), 485 (2013), arXiv:1204.2600. The state is the resistance R between R_on and R_off::

    dR/dt = f(V) = beta V + (alpha - beta)/2 (|V + Vt| - |V - Vt|)   (within the bounds)
    i = V / R

so the resistance changes at rate ``alpha V`` below the threshold ``Vt`` and with slope ``beta``
above it. ngspice ships this model as examples/memristor/memristor.sp (with hard limits at
R_on and R_off). Here ``x = (R - R_on)/(R_off - R_on)``, ``f`` is written as
``alpha (sp(V) - sp(-V)) + (beta - alpha)(sp(V - Vt) - sp(-V - Vt))`` (softplus ``sp`` of
knee ``v_knee``; exact for ``v_knee -> 0``) and the limits are the smooth clip
``tanh(distance / smooth)`` on the growing and the shrinking part separately.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from memcircuit.devices.base import DeviceParams, unit
from memcircuit.devices.equations import Equations
from memcircuit.devices.model import ExprDevice, Preset


@dataclass(frozen=True)
class PershinParams(DeviceParams):
    """Pershin-Di Ventra parameters (defaults: ngspice's examples/memristor/memristor.sp)."""

    r_on: float = field(default=1e3, metadata=unit("ohm", "lowest resistance (x = 0)"))
    r_off: float = field(default=10e3, metadata=unit("ohm", "highest resistance (x = 1)"))
    alpha: float = field(default=0.0, metadata=unit("ohm/(V s)", "dR/dt per volt below threshold"))
    beta: float = field(default=2e12, metadata=unit("ohm/(V s)", "dR/dt per volt above threshold"))
    v_t: float = field(default=1.6, metadata=unit("V", "threshold voltage"))
    v_knee: float = field(default=5e-3, metadata=unit("V", "softplus knee of the threshold"))
    smooth: float = field(default=1e-3, metadata=unit("1", "width of the smooth state clip"))


class Pershin(ExprDevice):
    """Pershin-Di Ventra threshold memristor (see the module docstring)."""

    family = "pershin"
    name = "pershin"
    ohmic = True  # current = G(x) v
    params_class = PershinParams
    va_file = "pershin.va"
    d2d_params = ("r_on", "r_off", "beta", "v_t")
    rules = {"r_on > 0": "r_on must be > 0 ohm", "r_off > r_on": "r_off must exceed r_on",
             "(alpha >= 0) & (beta >= 0)": "alpha and beta must be >= 0", "v_t >= 0": "v_t must be >= 0 V",
             "v_knee > 0": "v_knee must be > 0 V", "(smooth > 0) & (smooth < 0.1)": "smooth must be in (0, 0.1)"}
    source = "Pershin and Di Ventra, Radioengineering 22(2), 485 (2013), arXiv:1204.2600"
    demo = (3.0, 1e8, 2.0 / 3.0)

    @classmethod
    def equations_for(cls, variant):
        return Equations(
            defs=(("grow", "alpha*sp(v, v_knee) + (beta - alpha)*sp(v - v_t, v_knee)"),
                  ("shrink", "alpha*sp(-v, v_knee) + (beta - alpha)*sp(-v - v_t, v_knee)")),
            current="v/(r_on + (r_off - r_on)*x)",
            dxdt="(grow*bnd(1 - x, smooth) - shrink*bnd(x, smooth))/(r_off - r_on)",
        )


PRESETS = {
    "pershin-ngspice": Preset("pershin", {}, "ngspice examples/memristor/memristor.sp (H. Vogt 2012, after Pershin "
                              "and Di Ventra, arXiv:1204.2600): Ron 1k, Roff 10k, alpha 0, beta 20e3/10ns, Vt 1.6 V; "
                              "start at Rinit = 7k (x0 = 2/3)"),
}
