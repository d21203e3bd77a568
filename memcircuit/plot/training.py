"""Training curves from a run directory's ``metrics.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from memcircuit.errors import ConfigError
from memcircuit.plot.waveform import engineering_scale


def load_metrics(run_dir: str | Path) -> dict[str, Any]:
    """The ``metrics.json`` of a training run (:class:`ConfigError` if missing or unreadable)."""
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        raise ConfigError(f"no metrics.json in {run_dir} (run memcircuit train --out {run_dir} first)")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("epochs", []), list):
        raise ConfigError(f"{path} is not a training run's metrics (a mapping with a list of epochs)")
    if not data.get("epochs"):
        raise ConfigError(f"{path} has no finished epochs yet")
    for k, row in enumerate(data["epochs"]):
        if not isinstance(row, dict) or not isinstance(row.get("epoch"), int):
            raise ConfigError(f"{path}: epoch entry {k} is not a mapping with an integer 'epoch'")
        bad = [key for key in _PLOTTED if not (row.get(key) is None or _is_number(row[key]))]
        if bad:
            raise ConfigError(f"{path}: epoch {row['epoch']} has a non-numeric {bad[0]} ({row[bad[0]]!r})")
    if not isinstance(data.get("config", {}), dict):
        raise ConfigError(f"{path}: 'config' is not a mapping")
    return data


_PLOTTED = ("train_acc", "val_acc", "test_acc", "loss", "pulses", "energy_j")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _epoch_axis(ax: Axes, epoch: np.ndarray) -> None:
    """Whole-number epoch ticks, and at least one epoch of room so a single epoch is a visible point."""
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlim(min(np.nanmin(epoch) - 0.5, ax.get_xlim()[0]), max(np.nanmax(epoch) + 0.5, ax.get_xlim()[1]))


def _column(rows: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.array([np.nan if r.get(key) is None else float(r[key]) for r in rows])


def plot_training(metrics: dict[str, Any], ax: Axes | None = None) -> Axes:
    """Accuracy (train, validation, test; %) and training loss (nats, right axis) per epoch."""
    rows = metrics["epochs"]
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.2))
    epoch = _column(rows, "epoch")
    for key, label, style in (("train_acc", "train", "-o"), ("val_acc", "validation", "-^"),
                              ("test_acc", "test", "-s")):
        y = _column(rows, key)
        if np.isfinite(y).any():
            ax.plot(epoch, 100 * y, style, ms=3, label=f"{label} accuracy")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    loss_ax = ax.twinx()
    loss_ax.plot(epoch, _column(rows, "loss"), "--x", ms=4, color="0.4", label="training loss")
    _epoch_axis(ax, epoch)
    loss_ax.set_ylabel("cross-entropy loss (nats)")
    lines = ax.get_legend_handles_labels()
    more = loss_ax.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="center right", fontsize=8)
    cfg = metrics.get("config", {})
    title = (f"{cfg.get('dataset', '?')} {'-'.join(map(str, cfg.get('layers', [])))}, "
             f"{cfg.get('optimizer', '?')} on {cfg.get('device', '?')} at {cfg.get('fidelity', '?')}")
    if metrics.get("complete") is False:      # runs written before the mark existed say nothing
        title += f"\nunfinished ({metrics.get('status', '?')}): {len(rows)} of {cfg.get('epochs', '?')} epochs"
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    return ax


def plot_programming(metrics: dict[str, Any], ax: Axes | None = None) -> Axes:
    """Programming pulses per epoch (bars) and energy per epoch (J, right axis, log scale)."""
    rows = metrics["epochs"]
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.0))
    epoch = _column(rows, "epoch")
    ax.bar(epoch, _column(rows, "pulses"), width=0.6, color="tab:blue", alpha=0.6, label="pulses")
    ax.set_ylabel("programming pulses per epoch")
    energy = _column(rows, "energy_j")
    if np.isfinite(energy).any() and np.nanmax(energy) > 0:
        e_ax = ax.twinx()
        scale, prefix = engineering_scale(energy[np.isfinite(energy)])
        e_ax.plot(epoch, energy / scale, "-o", color="tab:red", ms=4, label="energy")
        e_ax.set_ylim(0, 1.1 * np.nanmax(energy) / scale)
        e_ax.set_ylabel(f"programming energy per epoch ({prefix}J)", color="tab:red")
    _epoch_axis(ax, epoch)
    ax.set_title("programming activity reported by the tiles", fontsize=10)
    return ax


def energy_components(rows: list[dict[str, Any]]) -> list[str]:
    """The ``energy_<phase>_<part>_j`` keys of the rows (without the total), in their order."""
    keys = [k for k in rows[0] if k.startswith("energy_") and k.endswith("_j") and k not in ("energy_j",
                                                                                             "energy_total_j")]
    return keys if all(all(_is_number(r.get(k)) for k in keys) for r in rows) else []


def plot_energy(metrics: dict[str, Any], ax: Axes | None = None) -> Axes:
    """Energy per epoch stacked by component (read: drivers, array, sense amplifiers, ADC;
    programming: drivers, array, learning-rate cells), in J with an SI prefix."""
    rows = metrics["epochs"]
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.0))
    epoch = _column(rows, "epoch")
    keys = energy_components(rows)
    values = np.array([_column(rows, k) for k in keys]) if keys else np.zeros((0, len(rows)))
    totals = values.sum(axis=0) if keys else np.zeros(len(rows))
    scale, prefix = engineering_scale(totals[totals > 0] if np.any(totals > 0) else np.array([1.0]))
    bottom = np.zeros(len(rows))
    colours = plt.get_cmap("tab10")
    for n, (key, value) in enumerate(zip(keys, values)):
        if np.any(value > 0):
            label = key[len("energy_"):-2].replace("_", " ").replace("lr cells", "learning-rate cells")
            ax.bar(epoch, value / scale, width=0.6, bottom=bottom / scale, color=colours(n), label=label)
            bottom += value
    ax.set_ylabel(f"energy per epoch ({prefix}J)")
    _epoch_axis(ax, epoch)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="component", title_fontsize=8)
    ax.set_title("energy by component (training reads and programming)", fontsize=10)
    return ax


def save_training_figure(metrics: dict[str, Any], path: str | Path) -> Path:
    """Curves, programming activity and (for runs that record it) energy by component in one PNG."""
    with_energy = bool(energy_components(metrics["epochs"])) if metrics.get("epochs") else False
    fig, axes = plt.subplots(3 if with_energy else 2, 1, figsize=(7.6, 9.0 if with_energy else 6.5),
                             height_ratios=(2, 1, 1.2) if with_energy else (2, 1), constrained_layout=True)
    plot_training(metrics, ax=axes[0])
    plot_programming(metrics, ax=axes[1])
    if with_energy:
        plot_energy(metrics, ax=axes[2])
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
