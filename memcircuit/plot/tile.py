"""Tile figures: conductance heat maps and programming-pulse waveforms."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.lines import Line2D
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
    """Driver voltages and, if given, driver currents against time (s); returns the voltage axes.

    On a new figure the currents get a panel of their own under the voltages (same time axis);
    on a given ``ax`` they share it on a right-hand axis. A driver has one colour in both, and
    the legend (one entry per driver) sits outside the plot, clear of the traces."""
    time = np.asarray(time, dtype=float)
    ts, tp = engineering_scale(time)
    own_panel = ax is None and bool(currents)  # currents in a panel of their own under the voltages
    if own_panel:
        _, (ax, cur_ax) = plt.subplots(2, 1, sharex=True, figsize=(8.5, 5.5), height_ratios=(3, 2))
    else:
        if ax is None:
            _, ax = plt.subplots(figsize=(8.5, 4))
        cur_ax = ax.twinx() if currents else None
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    names = list(dict.fromkeys([*voltages, *(currents or {})]))
    color = {name: palette[k % len(palette)] for k, name in enumerate(names)}
    if voltages:
        vs, vp = engineering_scale(np.concatenate([np.asarray(v) for v in voltages.values()]))
        for name, v in voltages.items():
            ax.plot(time / ts, np.asarray(v) / vs, color=color[name], lw=1.3)
        ax.set_ylabel(f"driver voltage ({vp}V)")
    if currents:
        cs, cp = engineering_scale(np.concatenate([np.asarray(c) for c in currents.values()]))
        for name, c in currents.items():
            cur_ax.plot(time / ts, np.asarray(c) / cs, color=color[name], lw=1.0, ls="-" if own_panel else "--")
        cur_ax.set_ylabel(f"driver current ({cp}A)")
    bottom = cur_ax if own_panel else ax
    bottom.set_xlabel(f"time ({tp}s)")
    for a in {ax, bottom}:
        a.grid(True, alpha=0.3)
    if names:
        handles = [Line2D([], [], color=color[n], lw=1.3) for n in names]
        ax.legend(handles, names, title="driver", loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  fontsize="small", title_fontsize="small", frameon=False)
    ax.set_title(title)
    ax.figure.tight_layout()
    return ax
