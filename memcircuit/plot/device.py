"""Device figures: the pinched I-V loop, the state over time, conductance per pulse.

Every function takes ``ax=None`` (a new figure) and returns the axes it drew on.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from memcircuit.plot.waveform import engineering_scale


def _axes(ax: Axes | None, size=(5.5, 4.5)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def plot_iv_loop(v: np.ndarray, i: np.ndarray, ax: Axes | None = None, *, label: str | None = None,
                 title: str | None = None) -> Axes:
    """Current against voltage (the pinched hysteresis loop), current in engineering units."""
    ax = _axes(ax)
    scale, prefix = engineering_scale(np.asarray(i))
    ax.plot(np.asarray(v), np.asarray(i) / scale, lw=1.2, label=label)
    ax.axhline(0, color="0.8", lw=0.6, zorder=0)
    ax.axvline(0, color="0.8", lw=0.6, zorder=0)
    ax.set_xlabel("voltage (V)")
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6))  # -1.00 .. 1.00 in 0.25 steps ran into each other
    ax.set_ylabel(f"current ({prefix}A)")
    ax.set_title(title or "I-V loop")
    if label:
        ax.legend(fontsize=8)
    return ax


def plot_state(t: np.ndarray, x: np.ndarray, ax: Axes | None = None, *, v: np.ndarray | None = None,
               label: str | None = None, title: str | None = None) -> Axes:
    """State x (dimensionless) against time, with the applied voltage on a twin axis if given."""
    ax = _axes(ax, (6.5, 3.5))
    scale, prefix = engineering_scale(np.asarray(t))
    ax.plot(np.asarray(t) / scale, np.asarray(x), lw=1.2, color="C1", label=label or "state x")
    ax.set_xlabel(f"time ({prefix}s)")
    ax.set_ylabel("state x (1)")
    ax.set_title(title or "device state")
    if v is not None:
        twin = ax.twinx()
        twin.plot(np.asarray(t) / scale, np.asarray(v), lw=0.8, color="0.6")
        twin.set_ylabel("voltage (V)", color="0.4")
    return ax


def plot_iv_record(record: Mapping[str, np.ndarray], ax: tuple[Axes, Axes] | None = None, *,
                   title: str = "") -> Axes:
    """The I-V loop (left) and the state over time (right) of a record with ``time``, ``v``,
    ``i`` and ``x``. ``ax``: a pair of axes, or None for a new two-panel figure; returns the
    left axes (``save_figure`` saves its whole figure)."""
    if ax is None:
        _, ax = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1, 1.3]})
    left, right = ax
    plot_iv_loop(record["v"], record["i"], left, title=f"{title} I-V loop".strip())
    plot_state(record["time"], record["x"], right, v=record["v"], title=f"{title} state".strip())
    return left


def plot_pulse_response(g: np.ndarray, ax: Axes | None = None, *, reference: np.ndarray | None = None,
                        title: str | None = None, label: str = "ngspice") -> Axes:
    """Conductance after each pulse (pulse 0 = before the first), optionally with a reference
    (numeric twin or closed form) drawn as a line."""
    ax = _axes(ax)
    g = np.asarray(g, dtype=float)
    scale, prefix = engineering_scale(g)
    n = np.arange(g.size)
    ax.plot(n, g / scale, "o", ms=3.5, label=label)
    if reference is not None:
        ax.plot(n, np.asarray(reference) / scale, "-", lw=1.0, color="C3", label="numeric twin")
    ax.set_xlabel("pulse number")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(f"conductance ({prefix}S)")
    ax.set_title(title or "conductance per pulse")
    ax.legend(fontsize=8)
    return ax


def plot_pulse_fit(fit, ax: Axes | None = None, *, title: str | None = None) -> Axes:
    """Measured conductance per pulse against the fitted exp-pulse curves
    (:class:`memcircuit.devices.fit.PulseFit`): potentiation from pulse 0, depression after it
    (pulse ``n_ltp`` on), each cycle's readings as dots, the fit as a line; legend outside."""
    ax = _axes(ax, (7.5, 4.5))
    sweeps = fit.data.sweeps
    scale, prefix = engineering_scale(np.concatenate([s.g for s in sweeps]))
    n_ltp, n_ltd = fit.params["n_ltp"], fit.params["n_ltd"]
    shown: set[str] = set()
    for s in sweeps:
        offset = 0.0 if s.branch == "ltp" else n_ltp
        label = f"measured {s.branch.upper()}" if s.branch not in shown else None
        shown.add(s.branch)
        ax.plot(offset + s.pulse, s.g / scale, "o", ms=2.5, alpha=0.45, color="C0" if s.branch == "ltp" else "C1",
                label=label)
    p_ltp, p_ltd = np.linspace(0.0, n_ltp, 200), np.linspace(0.0, n_ltd, 200)
    ax.plot(p_ltp, fit.curve("ltp", p_ltp) / scale, "-", color="k", lw=1.6, label="fit (exp-pulse)")
    ax.plot(n_ltp + p_ltd, fit.curve("ltd", p_ltd) / scale, "-", color="k", lw=1.6)
    q = fit.quality
    ax.set_xlabel("pulse number (LTP, then LTD)")
    ax.set_ylabel(f"conductance ({prefix}S)")
    ax.set_title(title or f"{Path(fit.data.source).name}: RMSE {100 * q['rmse_rel']:.1f} % of range, "
                          f"R$^2$ {q['r2_ltp']:.3f} / {q['r2_ltd']:.3f}", fontsize=9)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    return ax
