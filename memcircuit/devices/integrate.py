"""A vectorised stiff integrator for many independent scalar state equations.

Every device's state obeys its own scalar ODE ``dx/dt = f(t, x)``; thousands of devices share
the time steps. The method is ROS2, the L-stable second-order Rosenbrock method of Verwer,
Spee, Blom and Hundsdorfer (SIAM J. Sci. Comput. 20(4), 1456-1480, 1999), with
``gamma = 1 + 1/sqrt(2)``::

    (1 - gamma h J) k1 = f(t, x) + gamma h f_t
    (1 - gamma h J) k2 = f(t + h, x + h k1) - 2 k1 - gamma h f_t
    x_next = x + 3/2 h k1 + 1/2 h k2            (error estimate: h (k1 + k2) / 2)

``J = df/dx`` and ``f_t = df/dt`` are finite differences (the ``f_t`` terms keep stiff,
driven states such as a state held at its bound by a steep window from forcing tiny steps);
because each state is scalar the linear "solve" is a division. Steps adapt to
``rtol``/``atol`` (the worst device decides), never cross a breakpoint of the input (corners
of a piecewise-linear voltage), and outputs between steps come from cubic Hermite
interpolation.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from memcircuit.errors import ConfigError

GAMMA = 1.0 + 1.0 / np.sqrt(2.0)


def rosenbrock(f: Callable[[float, np.ndarray], np.ndarray], y0: np.ndarray, t_out: np.ndarray, *,
               breakpoints: np.ndarray | None = None, rtol: float = 1e-6, atol: float = 1e-9,
               max_step: float = np.inf, samples: np.ndarray | None = None, reach: int = 4,
               max_steps: int = 1_000_000) -> np.ndarray:
    """Integrate ``dy/dt = f(t, y)`` (elementwise independent) from ``t_out[0]`` and return
    ``y`` at every time of ``t_out`` (increasing), shape ``(len(t_out), *y0.shape)``.

    ``breakpoints``: times no step crosses. ``samples``: the times at which the input is known;
    a step then spans at most ``reach`` of their intervals (so a quiet stretch of the input is
    not jumped over while the grid's own resolution is kept)."""
    t_out = np.asarray(t_out, dtype=float)
    y = np.array(y0, dtype=float)
    out = np.empty((t_out.size,) + y.shape)
    out[0] = y
    if t_out.size == 1:
        return out
    t, t_end = float(t_out[0]), float(t_out[-1])
    stops = np.unique(np.concatenate([[t_end], [] if breakpoints is None else np.asarray(breakpoints, float)]))
    stops = stops[(stops > t) & (stops <= t_end)]
    span = t_end - t
    h = min(max_step, span / 100.0, float(stops[0] - t))
    f0 = f(t, y)
    k_out, k_stop, steps = 1, 0, 0
    while t < t_end:
        steps += 1
        if steps > max_steps:
            raise ConfigError(f"state integration needed more than {max_steps} steps (stiff beyond reach?)")
        limit = float(stops[k_stop]) - t
        h = min(h, max_step)
        if samples is not None:
            k = min(int(np.searchsorted(samples, t, side="right")) + reach - 1, samples.size - 1)
            h = min(h, max(float(samples[k]) - t, 1e-12 * span))
        last = h >= limit * (1 - 1e-12)
        if last:
            h = limit
        dy = 1e-7 * np.maximum(1.0, np.abs(y))
        jac = (f(t, y + dy) - f0) / dy
        dt = 1e-7 * h
        ft = (f(t + dt, y) - f0) / dt
        w = 1.0 - GAMMA * h * jac
        k1 = (f0 + GAMMA * h * ft) / w
        k2 = (f(t + h, y + h * k1) - 2.0 * k1 - GAMMA * h * ft) / w
        y_new = y + h * (1.5 * k1 + 0.5 * k2)
        # error of the embedded first-order solution, filtered by (1 - gamma h J)^-1 so that
        # stiff components (fast decay to a bound) do not force tiny steps (Shampine's remedy)
        err = np.abs(0.5 * h * (k1 + k2) / w) / (atol + rtol * np.maximum(np.abs(y), np.abs(y_new)))
        err_max = float(np.max(err)) if err.size else 0.0
        if not np.isfinite(err_max) or not np.all(np.isfinite(y_new)):
            h *= 0.25
            if h < 1e-300 + span * 1e-18:
                raise ConfigError("state integration failed: step size underflow")
            continue
        if err_max > 1.0:
            h *= max(0.2, 0.9 / np.sqrt(err_max))
            continue
        t_new = t + h if not last else float(stops[k_stop])
        f_new = f(t_new, y_new)
        # outputs inside (t, t_new]: cubic Hermite from (y, f0) and (y_new, f_new)
        while k_out < t_out.size and t_out[k_out] <= t_new * (1 + 1e-15) + 1e-300:
            s = (t_out[k_out] - t) / (t_new - t)
            h00, h10 = (1 + 2 * s) * (1 - s) ** 2, s * (1 - s) ** 2
            h01, h11 = s * s * (3 - 2 * s), s * s * (s - 1)
            out[k_out] = h00 * y + h10 * (t_new - t) * f0 + h01 * y_new + h11 * (t_new - t) * f_new
            k_out += 1
        t, y, f0 = t_new, y_new, f_new
        if last:
            k_stop += 1
            if k_stop >= stops.size:
                break
        h = min(h * min(4.0, 0.9 / np.sqrt(max(err_max, 1e-10))), max_step)
    while k_out < t_out.size:  # rounding at the very end
        out[k_out] = y
        k_out += 1
    return out


def corners(t: np.ndarray, v: np.ndarray, rel: float = 1e-4) -> np.ndarray:
    """Sample times where a piecewise-linear waveform bends noticeably (slope change times the
    shorter neighbouring interval above ``rel`` of the waveform's range); ``v`` may carry extra
    axes (one waveform per device)."""
    t = np.asarray(t, dtype=float)
    v = np.asarray(v, dtype=float).reshape(t.size, -1)
    if t.size < 3:
        return t[[0, -1]]
    dt = np.diff(t)
    slope = np.diff(v, axis=0) / dt[:, None]
    bend = np.abs(np.diff(slope, axis=0)) * np.minimum(dt[:-1], dt[1:])[:, None]
    scale = max(float(np.ptp(v)), 1e-30)
    kink = np.any(bend > rel * scale, axis=1)
    return np.concatenate([[t[0]], t[1:-1][kink], [t[-1]]])
