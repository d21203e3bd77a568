"""Software against circuit outputs of an inference run."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes


def plot_outputs(software: list[np.ndarray], circuit: list[np.ndarray], *, title: str = "",
                 max_points: int = 20000, ax: Axes | None = None) -> Axes:
    """Scatter of every layer's pre-activations, circuit (y) against software (x), with the
    identity line; dimensionless weight units (the periphery has already rescaled the currents).
    The legend (one entry per layer) sits outside the axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7.0, 4.6))
    lo, hi = np.inf, -np.inf
    rng = np.random.default_rng(0)
    for k, (s, c) in enumerate(zip(software, circuit)):
        s, c = s.reshape(-1), c.reshape(-1)
        if s.size > max_points:      # an even subsample keeps the file small
            pick = rng.choice(s.size, max_points, replace=False)
            s, c = s[pick], c[pick]
        ax.scatter(s, c, s=4, alpha=0.5, label=f"layer {k + 1} ({software[k].shape[1]} outputs)")
        lo, hi = min(lo, s.min(), c.min()), max(hi, s.max(), c.max())
    ax.plot([lo, hi], [lo, hi], color="black", lw=0.8, ls="--", label="circuit = software")
    ax.set_xlabel("software pre-activation z (weight units, 1)")
    ax.set_ylabel("circuit pre-activation z (weight units, 1)")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return ax
