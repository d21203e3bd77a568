"""Waveform plots of simulation results (voltages and currents against time or sweep)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from memcircuit.errors import ConfigError
from memcircuit.spice.result import Result
from memcircuit.units import si_prefix


def engineering_scale(values: np.ndarray) -> tuple[float, str]:
    """Scale factor and prefix so that the largest magnitude reads between 1 and 1000."""
    peak = float(np.max(np.abs(values))) if np.size(values) else 0.0
    return si_prefix(peak)


def plot_waveforms(result: Result, signals: Sequence[str], ax: Axes | None = None) -> Axes:
    """Plot ``signals`` (e.g. ``["v(out)", "i(v1)"]``) against the result's sweep or time.

    Voltages go on the left axis, currents on a twin right axis, each in engineering units.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    if result.analysis == "op":
        raise ConfigError("an operating point has no waveform to plot; use --tran or a dc sweep")
    x = result.sweep
    if x is None:
        raise ConfigError("this result has no sweep axis")
    xs, xp = engineering_scale(x)
    try:
        series = [(s.strip().lower(), result[s]) for s in signals]
    except KeyError as exc:
        raise ConfigError(str(exc).strip("'\"")) from None
    volts = [(n, y) for n, y in series if not n.startswith("i(")]
    amps = [(n, y) for n, y in series if n.startswith("i(")]
    axes_for = [(ax, volts, "V")]
    if amps:
        axes_for.append((ax.twinx() if volts else ax, amps, "A"))
    styles = iter(plt.rcParams["axes.prop_cycle"].by_key()["color"] * 4)
    lines = []
    for axis, group, unit in axes_for:
        if not group:
            continue
        ys, yp = engineering_scale(np.concatenate([y for _, y in group]))
        for name, y in group:
            (line,) = axis.plot(x / xs, y / ys, label=name, color=next(styles), linewidth=1.4)
            lines.append(line)
        axis.set_ylabel(f"{'current' if unit == 'A' else 'voltage'} ({yp}{unit})")
    xlabel = "time" if result.analysis == "tran" else (result.sweep_name or "sweep")
    xunit = "s" if result.analysis == "tran" else ("A" if xlabel.startswith("i") else "V")
    ax.set_xlabel(f"{xlabel} ({xp}{xunit})")
    ax.grid(True, alpha=0.3)
    ax.legend(lines, [ln.get_label() for ln in lines], loc="best", fontsize="small")
    ax.set_title({"tran": "Transient", "dc": "DC sweep"}.get(result.analysis, result.analysis))
    return ax


def save_figure(ax: Axes, path: str | Path, dpi: int = 150) -> Path:
    """Save the figure of ``ax`` to ``path`` (parent folders created) and close it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig = ax.figure
    fig.tight_layout()
    fig.savefig(target, dpi=dpi)
    plt.close(fig)
    return target
