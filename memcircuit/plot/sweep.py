"""Sweep tables: mean and spread of a metric against a swept value (or another metric)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from memcircuit.errors import ConfigError


def load_table(sweep_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(sweep_dir) / "results.json"
    if not path.is_file():
        raise ConfigError(f"no results table in {sweep_dir} (run memcircuit sweep first)")
    return json.loads(path.read_text())["rows"]


def _number(value: Any) -> float | None:
    """A float from a number or an SI string ("2.5k"); None for anything else."""
    from memcircuit.units import parse_si

    try:
        out = parse_si(value) if isinstance(value, str) else float(value)
    except (TypeError, ValueError, ConfigError):
        return None
    return out if np.isfinite(out) else None


# Columns of the job kinds' tables (memcircuit.*.jobs) in words, with their units.
_WORDS = {
    "final_test_acc": "final test accuracy", "final_train_acc": "final training accuracy",
    "epochs_run": "epochs run", "best_epoch": "best epoch", "epochs_to_target": "epochs to the target accuracy",
    "pulses": "programming pulses", "energy_j": "programming energy (J)", "train_seconds": "training time (s)",
    "seconds": "job wall time (s)", "seed": "random seed", "device.spread": "device-to-device spread (relative σ)",
    "variation": "device-to-device spread (relative σ)", "rows": "rows", "cols": "columns",
    "r_wire": "wire resistance per segment (Ω)", "v_read": "read voltage (V)", "amp": "amplitude (V)",
    "width": "pulse width (s)", "freq": "frequency (Hz)", "n": "pulses",
    "max_rel_error": "largest relative error, forward read", "max_rel_error_t": "largest relative error, backward read",
    "max_rel_error_gv": "largest relative error against V·G", "i_max": "largest read current (A)",
    "seconds_read": "forward read time (s)", "seconds_read_t": "backward read time (s)",
    "g_final": "final conductance (S)", "g_initial": "initial conductance (S)", "x_final": "final state",
    "lobe_area_pos": "positive lobe area (W)", "lobe_area_neg": "negative lobe area (W)", "i_peak": "peak current (A)",
    "twin_rel_diff": "relative difference to the numeric twin",
}
_PREFIXES = {"params.": "netlist parameter ", "device.": "device parameter ", "opt.": "optimizer option ",
             "tile.": "tile option "}


def column_label(name: str) -> str:
    """A table column in words for an axis: ``final_test_acc`` -> ``final test accuracy``,
    ``v(b)`` -> ``voltage at b (V)``, ``params.r1`` -> ``netlist parameter r1``."""
    if name in _WORDS:
        return _WORDS[name]
    lower = name.lower()
    if lower.startswith(("v(", "i(")) and lower.endswith(")"):
        return f"{'voltage at' if lower[0] == 'v' else 'current through'} {name[2:-1]} ({lower[0].upper()})"
    for prefix, words in _PREFIXES.items():
        if name.startswith(prefix):
            return words + name[len(prefix):]
    return name.replace("_", " ")


def plot_sweep_table(rows: list[dict[str, Any]], x: str, y: str, *, hue: str | None = None,
                     ax: Axes | None = None) -> Axes:
    """Mean of ``y`` per distinct ``x`` (per ``hue`` line), with +-1 standard deviation bands.

    When ``x`` is itself a metric (e.g. pulses), every job is a point and no averaging is done.
    """
    ok = [r for r in rows if r.get("status") == "ok"]
    if not ok:
        raise ConfigError("the sweep has no successful jobs to plot")
    for col in (x, y) + ((hue,) if hue else ()):
        if col not in ok[0]:
            raise ConfigError(f"no column {col!r}; columns: {', '.join(k for k in ok[0] if k != 'error')}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.2))
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in ok:
        groups[row[hue] if hue else y].append(row)
    averaged = False
    for label, members in groups.items():
        by_x: dict[float, list[float]] = defaultdict(list)
        for row in members:
            xv, yv = _number(row[x]), _number(row[y])
            if xv is not None and yv is not None:
                by_x[xv].append(yv)
        xs = np.array(sorted(by_x))
        if xs.size == 0:
            continue
        means = np.array([np.mean(by_x[v]) for v in xs])
        stds = np.array([np.std(by_x[v]) for v in xs])
        counts = [len(by_x[v]) for v in xs]
        (line,) = ax.plot(xs, means, marker="o", label=f"{column_label(hue)} = {label}" if hue else column_label(y))
        averaged = averaged or max(counts) > 1
        if max(counts) > 1:
            ax.fill_between(xs, means - stds, means + stds, alpha=0.2, color=line.get_color())
    ax.set_xlabel(column_label(x))
    ax.set_ylabel(column_label(y) + (", mean ± std" if averaged else ""))
    if not ax.lines:
        raise ConfigError(f"no numeric values to plot for {x!r} against {y!r}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(f"{column_label(y)} against {column_label(x)}")
    return ax
