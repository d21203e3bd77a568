"""A small threshold memristor used by the tile tests (independent of memcircuit.devices).

Conductance linear in the state, ``G(x) = g_off + (g_on - g_off) x``, ``I = G(x) v``; the state
follows ``dx/dt = r_set(v) (1 - x) - r_reset(v) x`` with soft thresholds
``r_set = k * sp(v - v_on)``, ``r_reset = k * sp(-v - v_off)`` (``sp``: softplus with knee
``s`` V). At constant ``v`` the state relaxes exponentially to ``r_set / (r_set + r_reset)``,
so a rectangular pulse has the closed form used by :meth:`apply_pulse`. It is a VTEAM-like
threshold model (Kvatinsky et al., IEEE TCAS-II 62(8), 2015) reduced to what the tests need.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memcircuit.devices.base import DeviceModel, DeviceParams
from memcircuit.netlist import BehavioralSource, Capacitor, Expr, Subckt, SubcktInstance
from memcircuit.units import format_spice


@dataclass(frozen=True)
class ThresholdParams(DeviceParams):
    g_on: float = 1e-4
    g_off: float = 1e-6
    v_on: float = 0.8
    v_off: float = 0.8
    k: float = 2e6
    s: float = 0.02


class ThresholdDevice(DeviceModel):
    family = "threshold_test"
    params_class = ThresholdParams

    def _sp(self, z):
        s = self.params.s
        u = np.asarray(z, dtype=float) / s
        return s * (np.maximum(u, 0) + np.log1p(np.exp(-np.abs(u))))

    def rates(self, v):
        p = self.params
        return p.k * self._sp(v - p.v_on), p.k * self._sp(-v - p.v_off)

    def current(self, v, x):
        p = self.params
        return (p.g_off + (p.g_on - p.g_off) * np.asarray(x)) * np.asarray(v)

    def didv(self, v, x):
        p = self.params
        return np.broadcast_to(p.g_off + (p.g_on - p.g_off) * np.asarray(x, dtype=float), np.shape(v)).copy()

    def dxdt(self, v, x):
        rs, rr = self.rates(v)
        return rs * (1 - x) - rr * x

    def integrate(self, t, v, x0):
        raise NotImplementedError("not needed by the tile tests")

    def apply_pulse(self, x, amplitude, width, rng=None):
        rs, rr = self.rates(np.asarray(amplitude, dtype=float))
        total = rs + rr
        x_inf = np.where(total > 0, rs / np.where(total > 0, total, 1.0), x)
        return x_inf + (np.asarray(x) - x_inf) * np.exp(-total * np.asarray(width, dtype=float))

    def behavioural_subckt(self) -> Subckt:
        p = self.params

        def sp(z: str) -> str:
            k = format_spice(p.s)
            return f"{k}*(max(({z})/{k}, 0) + ln(1 + exp(-abs(({z})/{k}))))"

        g = f"({format_spice(p.g_off)} + {format_spice(p.g_on - p.g_off)}*V(x))"
        rs = f"{format_spice(p.k)}*{sp(f'V(p, n) - {format_spice(p.v_on)}')}"
        rr = f"{format_spice(p.k)}*{sp(f'-V(p, n) - {format_spice(p.v_off)}')}"
        # The state capacitor hangs from a node held at x0, so with 'uic' the state starts at x0
        # (the IR's capacitor initial condition is a number, not a parameter).
        return Subckt("thr_dev", ("p", "n"), (
            BehavioralSource("Bi", ("p", "n"), "I", Expr(f"{g}*V(p, n)")),
            BehavioralSource("Bq", ("q0", "0"), "V", Expr("x0")),
            Capacitor("Cx", ("x", "q0"), 1.0, ic=0.0),
            BehavioralSource("Bx", ("0", "x"), "I", Expr(f"{rs}*(1 - V(x)) - {rr}*V(x)")),
        ), params=(("x0", 0.5),))

    def instance(self, name, p, n, x0, *, form="behavioural"):
        return SubcktInstance(name, (p, n), "thr_dev", (("x0", float(x0)),))
