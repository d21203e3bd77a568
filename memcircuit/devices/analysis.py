"""Stimuli and measures shared by the CLI, the plots and the regression tests.

* :func:`sine` - time points and a sine voltage (V) for an I-V sweep;
* :func:`lobe_areas` - the two lobes of a pinched hysteresis loop, ``|integral of i dv|`` over
  the positive and the negative half-cycles (W: V x A); a memristor's lobes shrink as the
  frequency rises (Chua, "Resistance switching memories are memristors", Appl. Phys. A 102,
  765 (2011): the three fingerprints);
* :func:`switching_threshold` - the amplitude at which a device's state starts to move;
* :func:`pulse_train_wave` - a PWL train of rectangular pulses with finite edges, and
  :func:`pwl_times` / :func:`pwl_samples` to sample it for the numeric twin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from memcircuit.errors import ConfigError

if TYPE_CHECKING:
    from memcircuit.devices.base import DeviceModel

V_LIMIT = 5.0  # V: the largest amplitude devices are probed and calibrated at


def mid_state_rate(device: DeviceModel, amps: np.ndarray) -> np.ndarray:
    """``|dx/dt|`` (1/s) at mid state for each amplitude in ``amps`` (V), the faster polarity."""
    amps = np.asarray(amps, dtype=float)
    x_mid = np.full(amps.shape, 0.5 * (device.x_min + device.x_max))
    return np.maximum(np.abs(device.dxdt(amps, x_mid)), np.abs(device.dxdt(-amps, x_mid)))


def switching_threshold(device: DeviceModel, *, v_limit: float = V_LIMIT, points: int = 250) -> float:
    """The smallest amplitude (V, either polarity) at which the state rate at mid state reaches
    1e-3 of its rate at ``v_limit``: below it a voltage (a read) leaves the state practically
    where it is. From the rate equation alone, so it costs one vectorised evaluation; the
    programming calibration (:func:`memcircuit.train.pulses.calibrate`) measures its own,
    pulse-based threshold for choosing programming voltages."""
    amps = np.linspace(v_limit / points, v_limit, points)
    rate = mid_state_rate(device, amps)
    if not rate[-1] > 0:
        raise ConfigError(f"device {device.family}: its state does not move up to {v_limit:g} V")
    return float(amps[np.flatnonzero(rate >= 1e-3 * rate[-1])[0]])


def sine(amp: float, freq: float, cycles: float = 2.0, points_per_cycle: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """``(t, v)``: ``cycles`` periods of ``amp * sin(2 pi freq t)`` (V, Hz)."""
    if not (freq > 0 and cycles > 0 and points_per_cycle >= 8 and np.isfinite(amp)):
        raise ConfigError(f"sine sweep needs freq > 0 Hz, cycles > 0, >= 8 points per cycle (got {freq}, "
                          f"{cycles}, {points_per_cycle})")
    n = int(round(cycles * points_per_cycle)) + 1
    t = np.linspace(0.0, cycles / freq, n)
    return t, amp * np.sin(2 * np.pi * freq * t)


def lobe_areas(v: np.ndarray, i: np.ndarray) -> tuple[float, float]:
    """Areas (W) of the positive and the negative lobe: ``|sum of i dv|`` over the samples with
    ``v >= 0`` and ``v <= 0`` (trapezoids), averaged per half-cycle."""
    v = np.asarray(v, dtype=float).ravel()
    i = np.asarray(i, dtype=float).ravel()
    dv = np.diff(v)
    im = 0.5 * (i[1:] + i[:-1])
    vm = 0.5 * (v[1:] + v[:-1])
    # half-cycles from the sign changes of v, ignoring samples at rounding-noise level (a
    # simulator's last sample of a whole number of periods is +-1e-11 V, not a new half-cycle)
    clear = np.abs(v) > 1e-6 * float(np.max(np.abs(v), initial=0.0))
    crossings = max(1, int(np.sum(np.diff(np.sign(v[clear])) != 0)))
    halves = max(1.0, (crossings + 1) / 2.0)
    pos = abs(float(np.sum((im * dv)[vm >= 0]))) / halves
    neg = abs(float(np.sum((im * dv)[vm <= 0]))) / halves
    return pos, neg


def pulse_train_wave(n: int, amp: float, width: float, *, gap: float | None = None, edge: float | None = None,
                     start: float | None = None) -> tuple[tuple[tuple[float, float], ...], np.ndarray, float]:
    """A PWL train of ``n`` rectangular pulses of ``amp`` V and ``width`` s (flat top) with
    linear edges of ``edge`` s (default width/50) and ``gap`` s of 0 V between pulses (default
    ``width``). Returns ``(points, read_times, stop)``: the PWL points, the mid-gap times after
    each pulse (where the state is read) and the end time."""
    if n < 1 or not width > 0:
        raise ConfigError(f"a pulse train needs n >= 1 and width > 0 s (got {n}, {width})")
    edge = width / 50 if edge is None else edge
    gap = width if gap is None else gap
    start = gap if start is None else start
    points = [(0.0, 0.0)]
    reads = []
    t = start
    for _ in range(n):
        points += [(t, 0.0), (t + edge, amp), (t + edge + width, amp), (t + 2 * edge + width, 0.0)]
        t += 2 * edge + width
        reads.append(t + gap / 2)
        t += gap
    points.append((t, 0.0))
    return tuple(points), np.array(reads), t


def pwl_samples(points, t: np.ndarray) -> np.ndarray:
    """The PWL waveform ``points`` sampled at ``t`` (for the numeric twin)."""
    pts = np.asarray(points, dtype=float)
    return np.interp(t, pts[:, 0], pts[:, 1])


def pwl_times(points, per_segment: int = 20) -> np.ndarray:
    """Sample times that include every PWL corner and ``per_segment`` points on each piece."""
    pts = np.asarray(points, dtype=float)[:, 0]
    pieces = [np.linspace(a, b, per_segment, endpoint=False) for a, b in zip(pts[:-1], pts[1:]) if b > a]
    return np.unique(np.concatenate(pieces + [pts[-1:]]))
