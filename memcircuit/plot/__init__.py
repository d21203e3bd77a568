"""Matplotlib figures. Every function takes ``ax=None`` and returns the axes it drew on."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files, not windows: the toolkit runs headless

from memcircuit.plot.waveform import plot_waveforms, save_figure  # noqa: E402

__all__ = ["plot_waveforms", "save_figure"]
