"""Tile figures: conductance heat maps and programming-pulse waveforms."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.ticker import MaxNLocator

from memcircuit.errors import ConfigError
from memcircuit.plot.waveform import engineering_scale


def plot_conductance(g: np.ndarray, ax: Axes | None = None, *, log: bool = False,
                     title: str = "Tile conductances") -> Axes:
    """Heat map of a (rows, cols) conductance matrix in siemens (µS colour scale by default).

    A matrix with negative entries (a conductance change) gets a diverging map centred on 0.

    ``log`` uses a logarithmic colour scale (for matrices spanning decades; needs G > 0).
    """
    g = np.asarray(g, dtype=float)
    if g.ndim != 2 or not g.size:
        raise ConfigError(f"a conductance map needs a non-empty 2-D array, got shape {g.shape}")
    if not np.all(np.isfinite(g)):
        raise ConfigError("conductances must be finite")
    if ax is None:
        rows, cols = g.shape
        aspect = rows / cols
        _, ax = plt.subplots(figsize=(6.5, max(2.5, min(9.0, 5.5 * aspect))))
    scale, prefix = engineering_scale(g)
    if log:
        if np.any(g <= 0):
            raise ConfigError("a logarithmic colour scale needs conductances > 0")
        image = ax.imshow(g / scale, cmap="viridis", norm=LogNorm(), interpolation="nearest", aspect="auto")
    elif np.any(g < 0):  # a signed map (a change, a difference): diverging colours centred on 0
        limit = float(np.max(np.abs(g))) / scale
        image = ax.imshow(g / scale, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest", aspect="auto")
    else:
        image = ax.imshow(g / scale, cmap="viridis", interpolation="nearest", aspect="auto")
    bar = ax.figure.colorbar(image, ax=ax)
    bar.set_label(f"conductance{' change' if np.any(g < 0) else ''} ({prefix}S)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("column (sensed at the bottom)")
    ax.set_ylabel("row (driven from the left)")
    ax.set_title(f"{title} ({g.shape[0]} x {g.shape[1]})")
    return ax


def plot_pulse_waveforms(time: np.ndarray, voltages: Mapping[str, np.ndarray],
                         currents: Mapping[str, np.ndarray] | None = None, ax: Axes | None = None,
                         *, title: str = "Programming pulses") -> Axes:
    """Driver voltages (left axis) and, if given, driver currents (right axis) against time (s)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    time = np.asarray(time, dtype=float)
    ts, tp = engineering_scale(time)
    colors = iter(plt.rcParams["axes.prop_cycle"].by_key()["color"] * 8)
    lines = []
    if voltages:
        vs, vp = engineering_scale(np.concatenate([np.asarray(v) for v in voltages.values()]))
        for name, v in voltages.items():
            (line,) = ax.plot(time / ts, np.asarray(v) / vs, label=f"{name} voltage", color=next(colors), lw=1.3)
            lines.append(line)
        ax.set_ylabel(f"driver voltage ({vp}V)")
    if currents:
        twin = ax.twinx()
        cs, cp = engineering_scale(np.concatenate([np.asarray(c) for c in currents.values()]))
        for name, c in currents.items():
            (line,) = twin.plot(time / ts, np.asarray(c) / cs, label=f"{name} current", color=next(colors),
                                lw=1.0, ls="--")
            lines.append(line)
        twin.set_ylabel(f"driver current ({cp}A)")
    ax.set_xlabel(f"time ({tp}s)")
    ax.grid(True, alpha=0.3)
    if lines:
        ax.legend(lines, [ln.get_label() for ln in lines], loc="best", fontsize="small")
    ax.set_title(title)
    return ax
