"""Signed weights on conductances: differential column pairs or a shared reference column.

Conductances are non-negative, so a signed weight needs two of them. ``differential``: logical
column ``k`` uses physical columns ``2k`` (G+) and ``2k+1`` (G-), ``w ~ G+ - G-`` (Prezioso et
al., Nature 521, 2015). ``reference``: every logical column ``k`` is physical column ``k`` and the
last physical column holds ``G_ref = (g_min + g_max)/2`` in every row, ``w ~ G_k - G_ref``
(Burr et al., IEEE TED 62(11), 2015, one of the schemes discussed there).
"""

from __future__ import annotations

import numpy as np

from memcircuit.circuits.spec import SIGNED
from memcircuit.errors import ConfigError


def _check(scheme: str) -> None:
    if scheme not in SIGNED:
        raise ConfigError(f"signed layout must be one of {', '.join(SIGNED)}, got {scheme!r}")


def physical_cols(cols: int, scheme: str | None) -> int:
    """Physical columns needed for ``cols`` logical outputs."""
    if scheme is None:
        return cols
    _check(scheme)
    return 2 * cols if scheme == "differential" else cols + 1


def logical_cols(phys: int, scheme: str | None) -> int:
    """Logical outputs carried by ``phys`` physical columns."""
    if scheme is None:
        return phys
    _check(scheme)
    if scheme == "differential":
        if phys % 2:
            raise ConfigError(f"a differential layout needs an even number of columns, got {phys}")
        return phys // 2
    if phys < 2:
        raise ConfigError("a reference layout needs at least one weight column and the reference column")
    return phys - 1


def pairs(phys: int, scheme: str) -> list[tuple[int, int]]:
    """(plus, minus) physical column of every logical output."""
    n = logical_cols(phys, scheme)
    if scheme == "differential":
        return [(2 * k, 2 * k + 1) for k in range(n)]
    return [(k, phys - 1) for k in range(n)]


def weights_to_conductances(w: np.ndarray, g_min: float, g_max: float, scheme: str,
                            w_max: float | None = None) -> np.ndarray:
    """Map weights (rows x cols) linearly onto conductances (S) of the signed layout.

    ``|w| = w_max`` (default: the largest ``|w|``) maps to a conductance difference of
    ``g_max - g_min`` (differential) or ``(g_max - g_min)/2`` (reference).
    """
    _check(scheme)
    w = np.asarray(w, dtype=float)
    if w.ndim != 2:
        raise ConfigError(f"weights must be a 2-D array, got shape {w.shape}")
    if not 0 <= g_min < g_max:
        raise ConfigError(f"need 0 <= g_min < g_max, got {g_min}, {g_max}")
    scale = float(np.max(np.abs(w))) if w_max is None else float(w_max)
    scale = scale if scale > 0 else 1.0
    u = np.clip(w / scale, -1.0, 1.0)
    rows, cols = w.shape
    if scheme == "differential":
        g = np.empty((rows, 2 * cols))
        g[:, 0::2] = g_min + (g_max - g_min) * np.clip(u, 0, None)
        g[:, 1::2] = g_min + (g_max - g_min) * np.clip(-u, 0, None)
        return g
    ref = 0.5 * (g_min + g_max)
    return np.concatenate([ref + 0.5 * (g_max - g_min) * u, np.full((rows, 1), ref)], axis=1)


def combine(currents: np.ndarray, scheme: str | None) -> np.ndarray:
    """Logical outputs ``I+ - I-`` from physical column currents (..., phys)."""
    if scheme is None:
        return np.asarray(currents)
    currents = np.asarray(currents, dtype=float)
    idx = np.array(pairs(currents.shape[-1], scheme))
    return currents[..., idx[:, 0]] - currents[..., idx[:, 1]]
