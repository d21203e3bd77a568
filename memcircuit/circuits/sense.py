"""Sense amplifiers: behavioural op-amp, transimpedance amplifier (TIA) and ADC quantiser.

Each piece exists twice, as a netlist element for ngspice and as a numpy function for the numeric
solver, written next to each other so that both compute the same equations:

* :func:`soft_clip` / :func:`soft_clip_expr`: the op-amp's output saturation,
* :func:`opamp_subckt`: the behavioural op-amp (ports ``inp inn out``),
* :func:`tia_output`: closed-loop TIA output for a source of voltage ``v_s`` behind ``r_s``
  (the analytic reference of the regression tests),
* :func:`adc_quantise` / :func:`adc_expr`: the ADC.
"""

from __future__ import annotations

import math

import numpy as np

from memcircuit.circuits.spec import AdcParams, OpAmpParams, TiaParams
from memcircuit.netlist import BehavioralSource, Capacitor, Expr, Resistor, Subckt, Vccs
from memcircuit.units import format_spice

OPAMP_SUBCKT = "opamp_beh"
_GM = 1e-3  # S: transconductance of the input stage; the gain sits in the load resistor


def _softplus(z: np.ndarray, s: float) -> tuple[np.ndarray, np.ndarray]:
    """``s*ln(1+exp(z/s))`` computed without overflow, and its derivative (the logistic)."""
    u = np.asarray(z, dtype=float) / s
    value = s * (np.maximum(u, 0.0) + np.log1p(np.exp(-np.abs(u))))
    slope = 0.5 * (1.0 + np.tanh(0.5 * u))
    return value, slope


def soft_clip(u: np.ndarray, p: OpAmpParams) -> tuple[np.ndarray, np.ndarray]:
    """Output ``v_low + sp(u - v_low) - sp(u - v_high)`` (V) and its derivative d out / d u.

    ``sp`` is the softplus with knee width ``p.smooth``. Linear (slope 1) between the rails,
    flat beyond them, with a smooth knee; the error against a hard clamp is at most
    ``smooth * ln 2`` at the rails and decays as ``exp(-distance / smooth)`` away from them.
    """
    a, da = _softplus(np.asarray(u, dtype=float) - p.v_low, p.smooth)
    b, db = _softplus(np.asarray(u, dtype=float) - p.v_high, p.smooth)
    return p.v_low + a - b, da - db


def _softplus_expr(z: str, s: float) -> str:
    k = format_spice(s)
    return f"{k}*(max(({z})/{k}, 0) + ln(1 + exp(-abs(({z})/{k}))))"


def soft_clip_expr(u: str, p: OpAmpParams) -> str:
    """The same clamp as :func:`soft_clip`, as an ngspice B-source expression of ``u``."""
    lo, hi = format_spice(p.v_low), format_spice(p.v_high)
    return f"{lo} + {_softplus_expr(f'{u} - ({lo})', p.smooth)} - {_softplus_expr(f'{u} - ({hi})', p.smooth)}"


def opamp_subckt(p: OpAmpParams, name: str = OPAMP_SUBCKT) -> Subckt:
    """Behavioural op-amp ``.subckt name inp inn out``.

    ``Gin`` drives ``gm * (v(inp) - v(inn))`` into node ``n1`` loaded by ``R1 = gain/gm`` and
    ``C1``, which puts the single pole at ``gbw/gain`` Hz; ``Bout`` is an ideal voltage output
    equal to :func:`soft_clip` of ``v(n1)``. At DC ``v(n1) = gain * (v(inp) - v(inn))``.
    """
    r1 = p.gain / _GM
    c1 = 1.0 / (2 * math.pi * (p.gbw / p.gain) * r1)
    return Subckt(name, ("inp", "inn", "out"), (
        Vccs("Gin", ("0", "n1", "inp", "inn"), _GM),
        Resistor("R1", ("n1", "0"), r1),
        Capacitor("C1", ("n1", "0"), c1),
        BehavioralSource("Bout", ("out", "0"), "V", Expr(soft_clip_expr("V(n1)", p))),
    ))


def tia_sense_current(v_sense: np.ndarray, p: TiaParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For a TIA whose inverting input sits at ``v_sense`` V (non-inverting input at 0 V):

    returns ``(i_in, di_in/dv, v_out)``: the current (A) flowing from the input node into the
    feedback resistor, its derivative (S) and the output voltage (V). At DC the op-amp output is
    ``soft_clip(gain * (0 - v_sense))``.
    """
    v = np.asarray(v_sense, dtype=float)
    out, dout = soft_clip(-p.opamp.gain * v, p.opamp)
    i_in = (v - out) / p.r_f
    di = (1.0 + p.opamp.gain * dout) / p.r_f
    return i_in, di, out


def tia_output(v_s: np.ndarray | float, r_s: float, p: TiaParams) -> np.ndarray:
    """Analytic DC output (V) of the inverting TIA fed by ``v_s`` (V) through ``r_s`` (ohm).

    Textbook closed loop with finite gain A and feedback factor ``beta = r_s/(r_s + r_f)``:
    ``v_out = -v_s * (r_f/r_s) / (1 + 1/(A*beta))`` (Sedra and Smith 2015, eq. 2.5), then the
    saturation of the output stage. Exact for the behavioural op-amp away from the rails;
    solved with the soft clamp by bisection near and beyond them.
    """
    v_s = np.atleast_1d(np.asarray(v_s, dtype=float))
    a, rf = p.opamp.gain, p.r_f

    def residual(out: np.ndarray) -> np.ndarray:
        # Node equation at the inverting input: (v_s - v_n)/r_s = (v_n - out)/r_f, out = clip(-A v_n).
        v_n = (v_s * rf + out * r_s) / (r_s + rf)
        return soft_clip(-a * v_n, p.opamp)[0] - out

    lo = np.full_like(v_s, p.opamp.v_low - 1.0)
    hi = np.full_like(v_s, p.opamp.v_high + 1.0)
    for _ in range(200):  # residual is decreasing in out: plain bisection to double precision
        mid = 0.5 * (lo + hi)
        positive = residual(mid) > 0
        lo = np.where(positive, mid, lo)
        hi = np.where(positive, hi, mid)
    return 0.5 * (lo + hi)


def tia_linear_gain(r_s: float, p: TiaParams) -> float:
    """Closed-loop transresistance factor ``v_out / v_s`` of the unsaturated TIA (V/V)."""
    beta = r_s / (r_s + p.r_f)
    return -(p.r_f / r_s) / (1.0 + 1.0 / (p.opamp.gain * beta))


def adc_quantise(v: np.ndarray, p: AdcParams) -> np.ndarray:
    """Mid-tread uniform quantiser: clip to the range, round to the nearest of ``2**bits`` levels."""
    lsb = p.lsb
    clipped = np.clip(np.asarray(v, dtype=float), p.v_low, p.v_high)
    return p.v_low + lsb * np.floor((clipped - p.v_low) / lsb + 0.5)


def adc_expr(node: str, p: AdcParams) -> Expr:
    """:func:`adc_quantise` of ``V(node)`` as an ngspice B-source expression."""
    lo, hi, lsb = format_spice(p.v_low), format_spice(p.v_high), format_spice(p.lsb)
    clipped = f"min(max(V({node}), {lo}), {hi})"
    return Expr(f"{lo} + {lsb}*floor(({clipped} - ({lo}))/{lsb} + 0.5)")
