"""From desired conductance changes to programming pulse programs, within driver limits.

Two encodings, both with the V/2 half-select convention (Chen, IEEE TED 50(5), 2003): a
selected cell sees the full programming voltage ``v_prog``, half-selected cells at most
``v_prog / 2``, which the calibration checks to be below the device's switching threshold.

``outer`` (Soudry et al., IEEE TNNLS 26(10), 2015): one rank-1 change ``dG = u v^T`` in at most
four parallel steps, one per sign quadrant of (u_i, v_j). The selected columns are biased at
``-+ v_prog / 2`` for a **duration** proportional to ``|v_j|``; every row carries an
**amplitude** ``a_i`` in ``[0, v_prog / 2]`` with the sign of the quadrant, chosen by inverting
the device's calibrated rate curve ``r(V)`` so that the rate at ``v_prog / 2 + a_i`` is
proportional to ``|u_i|`` (for a device linear above threshold this is ``a_i ~ |u_i|``, Soudry's
amplitude encoding). Row-only and column-only cells see at most ``v_prog / 2``.

``pwm`` (per device): for a dense change, one line of the smaller tile dimension is selected at a
time (two steps per line, one per polarity); the other dimension carries fixed-amplitude
``+- v_prog / 2`` pulses whose **widths** are proportional to ``|dG|`` of each cell.

Widths are whole multiples of the driver's time resolution ``t_unit`` (at most ``max_units``
per pulse), with stochastic rounding so that changes smaller than one unit do not vanish
(Gupta et al., ICML 2015; paper 4). The rates are calibrated once, open loop, on the device's
numeric twin at mid state (:func:`calibrate`); the state dependence of the real response (soft
bounds, asymmetry) is then what the training meets, as in open-loop programming without
read-verify (paper 2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memcircuit.devices.analysis import V_LIMIT
from memcircuit.devices.base import DeviceModel
from memcircuit.errors import ConfigError, NonFiniteUpdate
from memcircuit.tiles.base import PulseProgram, PulseStep

SCHEMES = ("outer", "pwm")


# The two forms of a weight change an optimizer hands the encoder
# (:mod:`memcircuit.train.optimizers.base` describes them).
@dataclass(frozen=True)
class Factored:
    """``dW = u^T v`` summed over the leading axis: ``u`` (k, n_in + 1), ``v`` (k, n_out)."""

    u: np.ndarray
    v: np.ndarray

    def dense(self) -> np.ndarray:
        return self.u.T @ self.v


@dataclass(frozen=True)
class Dense:
    """A full (n_in + 1, n_out) weight change."""

    dw: np.ndarray

    def dense(self) -> np.ndarray:
        return self.dw


Update = Factored | Dense


@dataclass(frozen=True)
class PulseCalibration:
    """Linearised programming response of one device family (open loop, at mid state).

    ``v_prog`` V across a selected cell; ``polarity`` +1 if a positive cell voltage (row minus
    column) raises the conductance; ``rate_up``/``rate_down`` (S/s, both > 0) the conductance
    slew at ``+-polarity * v_prog``; ``amps`` (V, over-drive above ``v_prog / 2``) with
    ``rates_up``/``rates_down`` (S/s) the rate curve used by the ``outer`` encoding;
    ``t_unit`` s the driver time resolution and ``max_units`` the longest pulse in units;
    ``half_select_ratio`` the rate at ``v_prog / 2`` relative to ``v_prog`` (disturb).
    """

    v_prog: float
    polarity: int
    rate_up: float
    rate_down: float
    t_unit: float
    max_units: int
    amps: tuple[float, ...]
    rates_up: tuple[float, ...]
    rates_down: tuple[float, ...]
    half_select_ratio: float

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @property
    def dg_unit(self) -> float:
        """Mean conductance change (S) of one unit pulse at ``v_prog``."""
        return 0.5 * (self.rate_up + self.rate_down) * self.t_unit


def _slew(device: DeviceModel, x: np.ndarray, v: np.ndarray, width: float, v_read: float) -> np.ndarray:
    """Conductance change per second (S/s) for pulses ``v`` (V) of ``width`` s from states ``x``."""
    g0 = device.conductance(x, v_read)
    x1 = device.apply_pulse(x, v, width, rng=None)
    return (device.conductance(x1, v_read) - g0) / width


def calibrate(device: DeviceModel, *, v_read: float = 0.1, v_prog: float | None = None,
              t_unit: float | None = None, max_units: int = 16, levels: float = 100.0,
              v_limit: float = V_LIMIT) -> PulseCalibration:
    """Programming amplitude, polarity, rates and time unit for ``device`` (numeric twin).

    The switching threshold ``V_th`` is taken as the smallest amplitude whose rate reaches 1e-3
    of the rate at ``v_limit`` V; a device whose threshold is not above ``v_read``, or a
    ``v_prog`` below ``V_th``, is a :class:`ConfigError`. Without ``v_prog``:
    ``v_prog = 1.8 V_th`` (so that half-selected cells, at ``0.9 V_th``, stay below it).
    Without ``t_unit``: one unit pulse at ``v_prog`` moves the conductance by ``1/levels`` of the
    range at mid state. Probe widths are
    chosen automatically (1 ns .. 1 s) so that a probe moves the state by a small fraction.
    """
    if max_units < 1:
        raise ConfigError(f"max pulse units must be >= 1, got {max_units}")
    x_mid = np.array([0.5 * (device.x_min + device.x_max)])
    g_lo = float(device.conductance(np.array([device.x_min]), v_read)[0])
    g_hi = float(device.conductance(np.array([device.x_max]), v_read)[0])
    g_range = abs(g_hi - g_lo)
    if not g_range > 0:
        raise ConfigError(f"device {device.family} has no conductance range to program")
    amps_probe = np.linspace(0.02, v_limit, 250)
    width = None
    for w in np.logspace(-9, 0, 19):
        slew = np.abs(_slew(device, np.repeat(x_mid, amps_probe.size), amps_probe, w, v_read))
        slew_n = np.abs(_slew(device, np.repeat(x_mid, amps_probe.size), -amps_probe, w, v_read))
        moved = max(slew.max(), slew_n.max()) * w / g_range
        if moved > 1e-3:
            width = w
            break
    if width is None:
        raise ConfigError(f"device {device.family}: no pulse up to {v_limit} V and 1 s moves the conductance")
    if moved > 0.05:  # keep the probe in the small-signal region
        width = width * 0.05 / moved
        slew = np.abs(_slew(device, np.repeat(x_mid, amps_probe.size), amps_probe, width, v_read))
        slew_n = np.abs(_slew(device, np.repeat(x_mid, amps_probe.size), -amps_probe, width, v_read))
    both = np.maximum(slew, slew_n)
    v_th = float(amps_probe[np.flatnonzero(both >= 1e-3 * both[-1])[0]])
    if v_th <= v_read:
        others = ", ".join(f for f in ("vteam", "yakopcic", "pershin", "exp-pulse", "discrete")
                           if f.replace("-", "_") != device.family)
        raise ConfigError(f"device {device.family} has no switching threshold above the read voltage "
                          f"({v_read:g} V): it moves at {v_th:g} V already, so reads would program it and "
                          f"half-selected cells would switch; lower --v-read below {v_th:g} V or train on another "
                          f"threshold device (e.g. {others})")
    if v_prog is None:
        v_prog = min(1.8 * v_th, v_limit)
    if not 0 < v_prog <= v_limit:
        raise ConfigError(f"programming voltage must be in (0, {v_limit}] V, got {v_prog}")
    if v_prog < v_th:
        raise ConfigError(f"programming voltage {v_prog:g} V is below the switching threshold of {device.family} "
                          f"(about {v_th:.3g} V): its pulses would barely move the devices; use at least "
                          f"{v_th:.3g} V ({min(1.8 * v_th, v_limit):.3g} V when not given)")
    probe = np.array([v_prog, -v_prog])
    r = _slew(device, np.repeat(x_mid, 2), probe, width, v_read)
    if r[0] * r[1] >= 0:
        raise ConfigError(f"device {device.family}: pulses of +-{v_prog:g} V do not move the conductance "
                          "in opposite directions; choose another programming voltage")
    polarity = 1 if r[0] > 0 else -1
    rate_up, rate_down = float(abs(r[0] if polarity > 0 else r[1])), float(abs(r[1] if polarity > 0 else r[0]))
    amps = np.linspace(0.0, v_prog / 2, 257)
    curve_up = np.abs(_slew(device, np.repeat(x_mid, amps.size), polarity * (v_prog / 2 + amps), width, v_read))
    curve_dn = np.abs(_slew(device, np.repeat(x_mid, amps.size), -polarity * (v_prog / 2 + amps), width, v_read))
    half = max(curve_up[0] / rate_up, curve_dn[0] / rate_down)
    if t_unit is None:
        t_unit = g_range / levels / (0.5 * (rate_up + rate_down))
    if not t_unit > 0:
        raise ConfigError(f"pulse time unit must be > 0 s, got {t_unit}")
    return PulseCalibration(float(v_prog), polarity, rate_up, rate_down, float(t_unit), int(max_units),
                            tuple(amps.tolist()), tuple(np.maximum.accumulate(curve_up).tolist()),
                            tuple(np.maximum.accumulate(curve_dn).tolist()), float(half))


#: more unit pulses than any request can sensibly name (2**53: floats stop being whole numbers)
UNITS_LIMIT = float(2**53)


def require_finite(what: str, *arrays: np.ndarray, layer_index: int | None = None) -> None:
    """:class:`~memcircuit.errors.NonFiniteUpdate` (of layer ``layer_index`` when given) unless
    every value of ``arrays`` is finite.

    The guard in front of every pulse encoder: a NaN cast to an integer becomes the most negative
    int64 (-9.2e18 pulses), which once made a programming loop run for 10^17 rounds.
    """
    for a in arrays:
        a = np.asarray(a, float)
        bad = int(a.size - np.count_nonzero(np.isfinite(a)))
        if bad:
            raise NonFiniteUpdate(f"{what} is not finite ({bad} of {a.size} values are NaN or infinite); "
                                  "no device was programmed with it", layer_index=layer_index)


def whole_units(units: np.ndarray, what: str) -> np.ndarray:
    """Signed unit-pulse counts (whole-valued floats) as int64, after :func:`require_finite` and a
    check against :data:`UNITS_LIMIT` (beyond it the request is broken, not merely large)."""
    units = np.asarray(units, float)
    require_finite(what, units)
    if units.size and float(np.abs(units).max()) > UNITS_LIMIT:
        raise NonFiniteUpdate(f"{what} asks for {float(np.abs(units).max()):.3g} unit pulses on one cell, "
                              "beyond any device")
    return units.astype(np.int64)


def stochastic_units(target: np.ndarray, cal: PulseCalibration, rng: np.random.Generator) -> np.ndarray:
    """Whole pulse units for ``target`` (units, >= 0, float) by stochastic rounding, clipped to
    ``cal.max_units`` (a request that overflowed to +inf saturates there; NaN is an error)."""
    target = np.minimum(target, cal.max_units)
    require_finite("the pulse-unit request", target)
    base = np.floor(target)
    return base + (rng.random(target.shape) < (target - base))


def encode_pwm(dg: np.ndarray, cal: PulseCalibration, rng: np.random.Generator) -> PulseProgram:
    """Per-device change ``dg`` (rows, cols) S as line-by-line width-modulated V/2 pulses."""
    dg = np.asarray(dg, float)
    require_finite("the conductance change", dg)
    rates = np.where(dg > 0, cal.rate_up, cal.rate_down)
    units = stochastic_units(np.abs(dg) / (rates * cal.t_unit), cal, rng)
    units[dg == 0] = 0
    widths = units * cal.t_unit
    sign = np.sign(dg) * (units > 0)
    by_cols = dg.shape[1] <= dg.shape[0]
    half = cal.v_prog / 2
    steps = []
    n_lines = dg.shape[1] if by_cols else dg.shape[0]
    for line in range(n_lines):
        w_line = widths[:, line] if by_cols else widths[line, :]
        s_line = sign[:, line] if by_cols else sign[line, :]
        for pol in (1.0, -1.0):
            sel = s_line == pol
            if not sel.any():
                continue
            other_v = np.where(sel, pol * cal.polarity * half, 0.0)
            other_w = np.where(sel, w_line, 0.0)
            line_v = np.zeros(dg.shape[1] if by_cols else dg.shape[0])
            line_w = np.zeros_like(line_v)
            line_v[line], line_w[line] = -pol * cal.polarity * half, float(other_w.max())
            if by_cols:   # selected column, rows carry the widths
                steps.append(PulseStep(other_v, line_v, other_w, line_w))
            else:         # selected row, columns carry the widths
                steps.append(PulseStep(-line_v, -other_v, line_w, other_w))
    return PulseProgram(tuple(steps))


def _amplitudes(rho: np.ndarray, amps: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """Over-drive amplitudes (V) whose rate is ``rho`` (0..1) of the rate at full over-drive."""
    target = rho * rates[-1]
    # rates is non-decreasing; interp needs strictly increasing x: of equal rates keep the last
    # (the edge of a dead zone below threshold, not its start)
    keep = np.concatenate([np.diff(rates) > 0, [True]])
    return np.interp(target, rates[keep], amps[keep])


def encode_outer(u: np.ndarray, v: np.ndarray, cal: PulseCalibration, rng: np.random.Generator) -> PulseProgram:
    """Rank-1 changes ``dG = sum_k u_k v_k^T`` (u (k, rows), v (k, cols) in S) as parallel steps.

    Per outer product at most four steps (quadrants of sign(u) x sign(v)); rows carry signed
    amplitudes, columns signed bias pulses whose durations carry ``|v|``.
    """
    u, v = np.atleast_2d(np.asarray(u, float)), np.atleast_2d(np.asarray(v, float))
    require_finite("the rank-1 update", u, v)
    amps = np.asarray(cal.amps)
    half = cal.v_prog / 2
    steps = []
    for uk, vk in zip(u, v):
        umax = float(np.max(np.abs(uk)))
        if umax == 0 or not np.any(vk):
            continue
        rho = np.abs(uk) / umax
        for grow in (True, False):           # potentiation, then depression
            rates = np.asarray(cal.rates_up if grow else cal.rates_down)
            if rates[-1] <= 0:
                continue
            a = _amplitudes(rho, amps, rates)
            units = stochastic_units(np.abs(vk) * umax / (rates[-1] * cal.t_unit), cal, rng)
            cell_sign = cal.polarity * (1.0 if grow else -1.0)   # sign of the cell voltage
            for su in (1.0, -1.0):
                sv = su if grow else -su        # u_i v_j > 0 grows, < 0 shrinks
                rows_sel = (np.sign(uk) == su) & (a > 0)
                cols_sel = (np.sign(vk) == sv) & (units > 0)
                if not rows_sel.any() or not cols_sel.any():
                    continue
                row_v = np.where(rows_sel, cell_sign * a, 0.0)
                col_v = np.where(cols_sel, -cell_sign * half, 0.0)
                col_w = np.where(cols_sel, units * cal.t_unit, 0.0)
                row_w = np.where(rows_sel, col_w.max(), 0.0)
                steps.append(PulseStep(row_v, col_v, row_w, col_w))
    return PulseProgram(tuple(steps))


def encode_update(layer, update: Update, cal: PulseCalibration, rng: np.random.Generator, *,
                  scheme: str = "auto") -> list[list[PulseProgram]]:
    """Pulse programs (one per tile of ``layer``, a :class:`~memcircuit.train.network.TiledLayer`)
    for a weight change ``update`` (``Factored`` or ``Dense``): rank-1 factors through
    :func:`encode_outer` (``scheme`` ``"auto"`` or ``"outer"``), anything else per device through
    :func:`encode_pwm`."""
    outer = scheme in ("auto", "outer") and isinstance(update, Factored)
    programs = []
    for r, (r0, r1) in enumerate(layer.row_blocks):
        row = []
        for c, (c0, c1) in enumerate(layer.col_blocks):
            if outer:
                row.append(encode_outer(update.u[:, r0:r1], layer.physical_factor(update.v[:, c0:c1]), cal, rng))
            else:
                row.append(encode_pwm(layer.physical_delta(update.dense(), r, c), cal, rng))
        programs.append(row)
    return programs
