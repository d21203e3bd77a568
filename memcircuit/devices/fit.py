"""Measured pulse-response data as a device: a CSV of conductance against pulse number, fitted
to the exp-pulse (soft-bounds) family (``memcircuit models fit``).

The data are what a parameter analyser exports for identical programming pulses: potentiation
(LTP) and depression (LTD) sweeps, one or several cycles. Accepted layout (one header row; ``,``
``;`` or tab separated; lines starting with ``#`` ignored; header names case-insensitive, a unit
in ``()`` or ``[]`` or after ``_``: ``G (uS)``, ``G_uS``):

* conductance: ``G``, ``conductance`` (unit ``S``, ``mS``, ``uS``/``µS``, ``nS``, ``pS``;
  default S), or resistance: ``R``, ``resistance`` (``ohm``, ``kohm``, ``Mohm``; default ohm);
* pulse number (optional): ``pulse``, ``pulse number``, ``n``, ``index``: the reading after that
  pulse (0: before the first); without it, the row order;
* which branch (optional): ``phase``/``direction``/``type``/``branch`` with values such as
  ``LTP``, ``potentiation``, ``set``, ``up``, ``+`` and ``LTD``, ``depression``, ``reset``,
  ``down``, ``-``; or the sign of a ``voltage``/``amplitude`` column; without either, each run
  of readings is a branch by its trend (rising: LTP, falling: LTD), split where the pulse number
  starts again or the conductance turns by more than 30 % of the range (at exactly every ``N``
  readings when all turns lie within ``N/3`` of that: sweeps of equal length);
* cycle (optional): ``cycle``, ``run``, ``repeat``; otherwise cycles are counted from the sweeps.

The model is NeuroSim's (Chen, Peng, Yu, IEEE TCAD 37(12), 3067 (2018); see
:mod:`memcircuit.devices.exp_pulse`): ``G_LTP(P) = B (1 - exp(-P/A)) + G_min`` from ``G_min``
over ``n_ltp`` pulses to ``G_max``, LTD the mirror image from ``G_max``. As in NeuroSim's own
fit, ``n_ltp`` and ``n_ltd`` are the pulses of a measured sweep; ``g_min``, ``g_max``,
``a_ltp`` and ``a_ltd`` are fitted by least squares to all sweeps at once. The device adds
``sigma * N(0, 1)`` (state units) per standard pulse, so the deviation from the fit evolves as
``r[k+1] = rho r[k] + sigma e[k]`` with ``rho = exp(-1/(a n))``; ``sigma_c2c`` is the standard
deviation of these innovations, pooled over all sweeps (readings at the bounds left out). The
spread of the sweeps around each other (``cycle_spread``) is reported beside it.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from memcircuit.errors import ConfigError

_G_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ns": 1e-9, "ps": 1e-12}
_R_UNITS = {"ohm": 1.0, "ω": 1.0, "kohm": 1e3, "kω": 1e3, "mohm": 1e6, "mω": 1e6, "gohm": 1e9}
_ROLES = {
    "pulse": {"pulse", "pulses", "pulsenumber", "pulseno", "pulsenum", "pulseindex", "n", "p", "index", "number",
              "no", "nr"},
    "conductance": {"g", "conductance", "cond"},
    "resistance": {"r", "resistance", "res"},
    "phase": {"phase", "direction", "type", "branch", "mode", "pulsetype", "polarity", "kind"},
    "amplitude": {"v", "voltage", "amplitude", "vpulse", "pulsevoltage", "pulseamplitude", "vp", "bias"},
    "cycle": {"cycle", "cycles", "cycleno", "cyclenumber", "run", "repeat", "epoch", "sweep"},
}
_LTP = {"ltp", "potentiation", "pot", "set", "p", "up", "+", "inc", "increase", "positive", "pos", "1", "+1"}
_LTD = {"ltd", "depression", "dep", "reset", "d", "down", "-", "dec", "decrease", "negative", "neg", "-1"}
BRANCHES = ("ltp", "ltd")
TURN = 0.3   # a turn of the conductance by this fraction of the range starts a new branch


@dataclass
class Sweep:
    """One potentiation or depression sweep: readings ``g`` (S) after ``pulse`` pulses of it."""

    branch: str
    cycle: int
    pulse: np.ndarray
    g: np.ndarray
    line: int          # CSV line of its first reading


@dataclass
class PulseData:
    """The sweeps of a CSV file and how its columns were read."""

    source: str
    sweeps: list[Sweep]
    columns: dict[str, str] = field(default_factory=dict)   # role -> header as written

    def branch(self, name: str) -> list[Sweep]:
        return [s for s in self.sweeps if s.branch == name]

    @property
    def cycles(self) -> int:
        return max(len(self.branch("ltp")), len(self.branch("ltd")))


def _header(name: str) -> tuple[str, str]:
    """(role key, unit) of a header such as ``G (uS)``, ``Pulse Number``, ``R[kOhm]``."""
    text = name.strip().lower().lstrip("\ufeff")
    unit = ""
    m = re.match(r"^(.*?)[\s_]*[(\[]\s*([^)\]]*)\s*[)\]]\s*$", text)
    suffix = re.match(r"^(.*?)[\s_/]+(s|ms|us|µs|μs|ns|ps|ohm|kohm|mohm|gohm)$", text)
    if m:
        text, unit = m.group(1), m.group(2).replace(" ", "")
    elif suffix:   # G_uS, R kohm, G/S
        text, unit = suffix.group(1), suffix.group(2)
    key = re.sub(r"[^a-z0-9#+]", "", text)
    if key.startswith("pulse") and key not in _ROLES["amplitude"] | _ROLES["phase"] and "width" not in key:
        key = "pulse"   # Pulse #, pulse_count, PulseNo.
    return key, unit


def _roles(header: list[str], source: str) -> dict[str, tuple[int, str]]:
    roles: dict[str, tuple[int, str]] = {}
    for col, name in enumerate(header):
        key, unit = _header(name)
        for role, names in _ROLES.items():
            if key in names or (role in ("conductance", "resistance") and key.startswith(role)):
                if role in roles:
                    raise ConfigError(f"{source}: two {role} columns ({header[roles[role][0]]!r} and {name!r})")
                roles[role] = (col, unit)
                break
    if "conductance" not in roles and "resistance" not in roles:
        raise ConfigError(f"{source}: no conductance column (a header such as G, conductance, G (uS), or "
                          f"resistance, R (kohm)); the header is {', '.join(header)}")
    return roles


def _scale(roles: dict[str, tuple[int, str]], source: str) -> tuple[str, float]:
    role = "conductance" if "conductance" in roles else "resistance"
    unit = roles[role][1]
    table = _G_UNITS if role == "conductance" else _R_UNITS
    if not unit:
        return role, 1.0
    if unit.lower() not in table and unit not in table:
        raise ConfigError(f"{source}: unknown {role} unit {unit!r}; use one of {', '.join(table)}")
    return role, table.get(unit, table.get(unit.lower(), 1.0))


def _number(text: str, source: str, line: int, column: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ConfigError(f"{source}:{line}: {text.strip()!r} in column {column!r} is not a number") from None
    if not np.isfinite(value):
        raise ConfigError(f"{source}:{line}: {text.strip()!r} in column {column!r} is not a finite number")
    return value


def _phase(text: str, source: str, line: int, column: str) -> str:
    word = text.strip().lower()
    if word in _LTP:
        return "ltp"
    if word in _LTD:
        return "ltd"
    raise ConfigError(f"{source}:{line}: {text.strip()!r} in column {column!r} is neither potentiation "
                      "(LTP, potentiation, set, up, +) nor depression (LTD, depression, reset, down, -)")


def _turns(g: np.ndarray, threshold: float) -> list[int]:
    """Indices of the last reading of each rising or falling run of ``g`` that is followed by a
    turn of more than ``threshold`` (a zig-zag filter on a 5-point moving average)."""
    width = 5 if g.size >= 15 else 1
    s = np.convolve(np.pad(g, width // 2, mode="edge"), np.ones(width) / width, mode="valid")
    turns: list[int] = []
    direction, hi, lo, ext = 0, 0, 0, 0
    for k in range(1, s.size):
        if direction == 0:
            hi = k if s[k] > s[hi] else hi
            lo = k if s[k] < s[lo] else lo
            if s[hi] - s[lo] > threshold:
                direction, ext = (1, hi) if hi > lo else (-1, lo)
        elif direction * (s[k] - s[ext]) >= 0:
            ext = k
        elif direction * (s[ext] - s[k]) > threshold:
            near = slice(max(ext - width, 0), min(ext + width + 1, g.size))   # the raw extreme next to it
            turns.append(near.start + int(np.argmax(direction * g[near])))
            direction, ext = -direction, k
    return turns


def _regular(cuts: list[int], size: int) -> list[int]:
    """Sweep starts found by the trend, placed at exactly every ``N = size / sweeps`` readings
    when ``N`` is a whole number and they all fall within ``N/3`` of that (sweeps of equal
    length, the usual export: noise on the flat end of a sweep moves the turn either way)."""
    cuts = [c for c in cuts if 0 < c < size]
    period, rest = divmod(size, len(cuts) + 1)
    regular = [period * (j + 1) for j in range(len(cuts))]
    if cuts and rest == 0 and period >= 4 and all(abs(c - r) <= period / 3 for c, r in zip(cuts, regular)):
        return regular
    return cuts


def read_pulse_csv(path: str | Path) -> PulseData:
    """Read a pulse-response CSV (the layout of the module docstring) into sweeps.

    Raises :class:`ConfigError` with one line naming the file (and line) for anything it cannot
    read: no conductance column, a non-number, a conductance <= 0, a branch with fewer than three
    readings."""
    p = Path(path)
    source = str(path)
    if not p.is_file():
        raise ConfigError(f"pulse data: file not found: {source}")
    try:
        text = p.read_text(encoding="utf-8-sig", errors="strict")
    except (UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"{source}: not a text CSV file ({exc})") from None
    numbered = [(k, line) for k, line in enumerate(text.splitlines(), start=1)
                if line.strip() and not line.lstrip().startswith("#")]
    if len(numbered) < 2:
        raise ConfigError(f"{source}: needs a header row and data rows (it has {len(numbered)} non-empty line(s))")
    sample = "\n".join(line for _, line in numbered[:20])
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    rows = list(csv.reader(io.StringIO("\n".join(line for _, line in numbered)), delimiter=delimiter))
    lines = [k for k, _ in numbered]
    header = [h.strip() for h in rows[0]]
    roles = _roles(header, source)
    kind, scale = _scale(roles, source)
    names = {role: header[col] for role, (col, _) in roles.items()}

    g, pulse, phase, cycle, line_of = [], [], [], [], []
    for line, row in zip(lines[1:], rows[1:]):
        if len(row) < len(header) and len(row) <= max(col for col, _ in roles.values()):
            raise ConfigError(f"{source}:{line}: {len(row)} field(s), the header has {len(header)}")
        value = _number(row[roles[kind][0]], source, line, names[kind]) * scale
        if value <= 0:
            raise ConfigError(f"{source}:{line}: {kind} must be > 0, got {row[roles[kind][0]].strip()}")
        g.append(value if kind == "conductance" else 1.0 / value)
        line_of.append(line)
        if "pulse" in roles:
            pulse.append(_number(row[roles["pulse"][0]], source, line, names["pulse"]))
        if "phase" in roles:
            phase.append(_phase(row[roles["phase"][0]], source, line, names["phase"]))
        elif "amplitude" in roles:
            v = _number(row[roles["amplitude"][0]], source, line, names["amplitude"])
            if v == 0:
                raise ConfigError(f"{source}:{line}: a pulse amplitude of 0 is neither potentiation nor depression")
            phase.append("ltp" if v > 0 else "ltd")
        if "cycle" in roles:
            cycle.append(row[roles["cycle"][0]].strip())
    g_arr = np.asarray(g)
    n = g_arr.size
    pulse_arr = np.asarray(pulse) if pulse else np.arange(1, n + 1, dtype=float)

    # cut into sweeps: a new cycle, a new branch, the pulse number starting again, or a turn
    cuts = {0}
    for k in range(1, n):
        if (cycle and cycle[k] != cycle[k - 1]) or (phase and phase[k] != phase[k - 1]) \
                or pulse_arr[k] <= pulse_arr[k - 1]:
            cuts.add(k)
    if not phase:
        threshold = TURN * float(np.ptp(g_arr))
        bounds = sorted(cuts) + [n]
        for a, b in zip(bounds[:-1], bounds[1:]):
            cuts.update(a + q for q in _regular([t + 1 for t in _turns(g_arr[a:b], threshold)], b - a))
    bounds = sorted(cuts) + [n]
    sweeps: list[Sweep] = []
    counts = {"ltp": 0, "ltd": 0}
    for a, b in zip(bounds[:-1], bounds[1:]):
        if phase:
            branch = phase[a]
        else:
            branch = "ltp" if g_arr[b - 1] >= g_arr[a] else "ltd"
        # pulses of this sweep: counted on from the previous sweep's last reading when the counter
        # goes on, else from the reading before the first (pulse 0) or the first pulse (1, 2, ...)
        first = pulse_arr[a]
        goes_on = a > 0 and first > pulse_arr[a - 1] and not (cycle and cycle[a] != cycle[a - 1])
        base = pulse_arr[a - 1] if goes_on else (first - 1 if first >= 1 else first)
        label = int(cycle[a]) if cycle and cycle[a].lstrip("-").isdigit() else counts[branch] + 1
        counts[branch] += 1
        sweeps.append(Sweep(branch, label, pulse_arr[a:b] - base, g_arr[a:b], line_of[a]))
    data = PulseData(source, sweeps, names)
    for branch, what in (("ltp", "potentiation"), ("ltd", "depression")):
        points = sum(s.g.size for s in data.branch(branch))
        if points < 3:
            raise ConfigError(f"{source}: {points} {what} reading(s); a fit needs at least 3 of each (mark the "
                              "branches with a phase column, e.g. phase = LTP / LTD)")
    return data


# -- the fit ---------------------------------------------------------------------------------------
def exp_pulse_step(branch: str, x: np.ndarray, pulses: np.ndarray, a: float, n: float) -> np.ndarray:
    """Normalised state after ``pulses`` more pulses of ``branch`` from state ``x`` (the closed
    form of :class:`~memcircuit.devices.exp_pulse.ExpPulse`, clipped to [0, 1])."""
    xinf = -1.0 / np.expm1(-1.0 / a) if branch == "ltp" else 1.0 + 1.0 / np.expm1(-1.0 / a)
    return np.clip(xinf + (np.asarray(x, float) - xinf) * np.exp(-np.asarray(pulses, float) / (a * n)), 0.0, 1.0)


def _variance_steps(pulses: np.ndarray, a: float, n: float) -> np.ndarray:
    """Variance of the noise gathered over ``pulses`` pulses in units of one pulse's variance
    (each pulse's noise decays by exp(-1/(a n)) per later pulse)."""
    rho2 = np.exp(-2.0 / (a * n))
    return -np.expm1(np.log(rho2) * np.asarray(pulses, float)) / (1.0 - rho2)


def exp_pulse_state(branch: str, pulses: np.ndarray, a: float, n: float) -> np.ndarray:
    """Normalised state after ``pulses`` pulses of an exp-pulse sweep from its starting bound
    (LTP from 0, LTD from 1), clipped to [0, 1] beyond ``n`` pulses."""
    rise = np.expm1(-np.asarray(pulses, float) / (a * n)) / np.expm1(-1.0 / a)
    return np.clip(rise if branch == "ltp" else 1.0 - rise, 0.0, 1.0)


@dataclass
class PulseFit:
    """Result of :func:`fit_exp_pulse`: the device, the parameters and the fit quality."""

    device: Any
    data: PulseData
    params: dict[str, float]
    quality: dict[str, Any]

    def curve(self, branch: str, pulses: np.ndarray) -> np.ndarray:
        """Fitted conductance (S) after ``pulses`` pulses of a sweep of ``branch``."""
        p = self.params
        a, n = p[f"a_{branch}"], p[f"n_{branch}"]
        return p["g_min"] + (p["g_max"] - p["g_min"]) * exp_pulse_state(branch, pulses, a, n)

    def summary(self) -> str:
        p, q = self.params, self.quality
        return (f"{self.data.source}: {q['cycles']} cycle(s), {q['points']} readings; g_min {p['g_min']:.4g} S, "
                f"g_max {p['g_max']:.4g} S, n_ltp {p['n_ltp']:g}, n_ltd {p['n_ltd']:g}, a_ltp {p['a_ltp']:.3g} "
                f"(NL {q['nl_ltp']:.2f}), a_ltd {p['a_ltd']:.3g} (NL {q['nl_ltd']:.2f}), sigma_c2c "
                f"{p['sigma_c2c']:.3g}; RMSE {100 * q['rmse_rel']:.2f} % of the range, R^2 LTP "
                f"{q['r2_ltp']:.4f}, LTD {q['r2_ltd']:.4f}")

    def to_json(self) -> dict[str, Any]:
        sweeps = [{"branch": s.branch, "cycle": s.cycle, "line": s.line, "pulse": s.pulse, "g": s.g,
                   "g_fit": self.curve(s.branch, s.pulse)} for s in self.data.sweeps]
        return {"source": self.data.source, "family": "exp-pulse", "params": self.params,
                "quality": self.quality, "columns": self.data.columns, "sweeps": sweeps}


def fit_exp_pulse(data: PulseData, **overrides: Any) -> PulseFit:
    """Fit the exp-pulse family to measured sweeps (see the module docstring).

    ``overrides``: other parameters of the device (``v_pulse``, ``t_pulse``, ``v_th`` ...: the
    measurement's pulse), SI strings allowed. Returns the device with the fitted parameters
    and the fit quality: RMSE as a fraction of ``g_max - g_min`` (all readings and per branch),
    R^2 per branch, NeuroSim's non-linearity labels, ``sigma_c2c`` and the cycle spread."""
    from memcircuit.devices import get_device
    from memcircuit.devices.exp_pulse import _max_deviation

    fitted = {"g_min", "g_max", "n_ltp", "n_ltd", "a_ltp", "a_ltd", "sigma_c2c"}
    if fitted & set(overrides):
        raise ConfigError(f"{', '.join(sorted(fitted & set(overrides)))}: fitted from the data; parameters can set "
                          "only the others (v_pulse, t_pulse, v_th, v_knee, smooth)")

    n = {b: float(np.median([s.pulse.max() for s in data.branch(b)])) for b in BRANCHES}
    for b in BRANCHES:
        if n[b] < 1:
            raise ConfigError(f"{data.source}: the {b.upper()} sweeps span less than one pulse")
    all_g = np.concatenate([s.g for s in data.sweeps])
    lo, span = float(np.percentile(all_g, 2)), float(np.ptp(all_g)) or float(all_g.mean())

    def model(theta: np.ndarray) -> tuple[float, float, float, float]:
        return lo + span * theta[0], lo + span * theta[1], float(np.exp(theta[2])), float(np.exp(theta[3]))

    pairs = [(s.branch, s.g[:-1], s.g[1:], np.diff(s.pulse)) for s in data.sweeps if s.g.size > 1]

    def residuals(theta: np.ndarray, *, weighted: bool = True) -> np.ndarray:
        g_min, g_max, a_ltp, a_ltd = model(theta)
        out = []
        for branch, g0, g1, dp in pairs:
            a = a_ltp if branch == "ltp" else a_ltd
            x1 = exp_pulse_step(branch, (g0 - g_min) / (g_max - g_min), dp, a, n[branch])
            res = (g_min + (g_max - g_min) * x1 - g1) / span
            out.append(res / np.sqrt(_variance_steps(dp, a, n[branch])) if weighted else res)
        return np.concatenate(out)

    hi = float(np.percentile(all_g, 98))
    start = np.array([0.0, (hi - lo) / span, np.log(0.5), np.log(0.5)])
    low = [max(-0.5, (1e-3 * lo - lo) / span), 0.0, np.log(1e-3), np.log(1e-3)]
    result = least_squares(residuals, start, bounds=(low, [1.0, 2.0, np.log(1e3), np.log(1e3)]), x_scale=1.0)
    g_min, g_max, a_ltp, a_ltd = model(result.x)
    if not g_max > g_min > 0:
        raise ConfigError(f"{data.source}: the fit found no conductance range (g_min {g_min:.3g} S, "
                          f"g_max {g_max:.3g} S): are the branches marked the right way round?")
    a = {"ltp": a_ltp, "ltd": a_ltd}
    rng = g_max - g_min

    # quality per branch: the sweeps against the curve from the bound they start at
    quality: dict[str, Any] = {"points": int(all_g.size), "cycles": data.cycles,
                               "sweeps": {b: len(data.branch(b)) for b in BRANCHES}}
    res_all = []
    for b in BRANCHES:
        g = np.concatenate([s.g for s in data.branch(b)])
        fit = np.concatenate([g_min + rng * exp_pulse_state(b, s.pulse, a[b], n[b]) for s in data.branch(b)])
        res = g - fit
        res_all.append(res)
        quality[f"rmse_rel_{b}"] = float(np.sqrt(np.mean(res ** 2)) / rng)
        ss_tot = float(np.sum((g - g.mean()) ** 2))
        if not ss_tot > 0:
            raise ConfigError(f"{data.source}: the {b.upper()} readings do not change ({g[0]:.4g} S throughout)")
        quality[f"r2_{b}"] = float(1.0 - np.sum(res ** 2) / ss_tot)
        quality[f"nl_{b}"] = float(_max_deviation(a[b]) / (0.07 * np.sqrt(2.0)))
    quality["rmse_rel"] = float(np.sqrt(np.mean(np.concatenate(res_all) ** 2)) / rng)

    # cycle-to-cycle noise: the pulse-to-pulse innovations, readings away from the bounds
    innovations, weights = [], []
    for branch, g0, g1, dp in pairs:
        x0, x1 = (g0 - g_min) / rng, (g1 - g_min) / rng
        pred = exp_pulse_step(branch, x0, dp, a[branch], n[branch])
        inside = (np.minimum(x0, x1) > 0.01) & (np.maximum(x0, x1) < 0.99) & (pred > 0.01) & (pred < 0.99)
        innovations.append((x1 - pred)[inside])
        weights.append(_variance_steps(dp, a[branch], n[branch])[inside])
    e, w = np.concatenate(innovations), np.concatenate(weights)
    sigma = float(np.sqrt(np.sum(e ** 2) / np.sum(w))) if w.sum() > 0 else 0.0
    spread = []
    for b in BRANCHES:
        sweeps = data.branch(b)
        common = sorted(set.intersection(*(set(s.pulse.tolist()) for s in sweeps))) if len(sweeps) > 1 else []
        if common:
            table = np.array([[s.g[s.pulse.tolist().index(q)] for q in common] for s in sweeps])
            spread.append(np.std(table, axis=0, ddof=1))
    quality["noise_readings"] = int(e.size)
    quality["cycle_spread_rel"] = float(np.sqrt(np.mean(np.concatenate(spread) ** 2)) / rng) if spread else None
    quality["note"] = ("" if data.cycles > 1 else
                       "one sweep each way: sigma_c2c comes from one sweep's scatter, not from repeated cycles")

    params = {"g_min": g_min, "g_max": g_max, "n_ltp": n["ltp"], "n_ltd": n["ltd"], "a_ltp": a_ltp,
              "a_ltd": a_ltd, "sigma_c2c": sigma}
    device = get_device("exp-pulse", **params, **overrides)
    return PulseFit(device, data, params, quality)


def fit_pulse_csv(path: str | Path, **overrides: Any) -> PulseFit:
    """:func:`read_pulse_csv` then :func:`fit_exp_pulse`."""
    return fit_exp_pulse(read_pulse_csv(path), **overrides)
