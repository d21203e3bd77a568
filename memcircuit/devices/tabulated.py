"""A numeric twin tabulated from ngspice simulations of a compiled Verilog-A model.

``memcircuit models characterize model.va`` measures, with
:meth:`memcircuit.devices.vamodel.VaDevice.snapshot` (1 ps transients of the compiled module
started at each state), the current ``I = g(x, V)`` and the state rate ``dx/dt = f(x, V)`` on a
grid of states and voltages, after finding by simulation

* the state range: the states a long pulse of either polarity drives the model to (its bounds);
* the switching threshold: the smallest voltage at which the rate at mid state reaches 1e-3 of
  its rate at the grid's largest voltage;
* the read conductance curve at the read voltage.

The state grid is uniform plus geometric refinement towards both bounds (where smooth windows
change the rate over a few thousandths of the range); the voltage grid is uniform plus the
thresholds' neighbourhoods. :class:`TabulatedDevice` interpolates the tables: the current
bilinearly, the rate bilinearly in ``asinh(rate / r0)`` (linear across many decades of an
exponential threshold, and through the sign change at 0 V). Its state integration is the one
the built-in families use (:mod:`memcircuit.devices.integrate`).

At ``spice`` the twin runs as its Verilog-A source (the file's SHA-256 is stored and checked),
in reads as a table of the same measured I-V (:func:`table_read_subckt`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from memcircuit.devices.base import DeviceModel
from memcircuit.devices.model import ExprDevice
from memcircuit.errors import ConfigError
from memcircuit.netlist.ir import BehavioralSource, Expr, Subckt

FAMILY = "tabulated"
#: (states, voltages) of the read form's I-V table
READ_GRID = (33, 41)


def _pwl(arg: str, xs: np.ndarray, ys: np.ndarray) -> str:
    return f"pwl({arg}, " + ", ".join(f"{a:.9g}, {b:.9g}" for a, b in zip(xs, ys)) + ")"


def table_read_subckt(name: str, xs: np.ndarray, vs: np.ndarray, current: np.ndarray) -> Subckt:
    """``.subckt <name> p n params: x0``: a B source ``I = sum_k hat_k(x0) * pwl(V(p, n), I[k])``,
    the measured I-V table ``current`` (A, uniform states ``xs`` x voltages ``vs``) interpolated
    linearly in both, with the state held at ``x0`` (the DC read form of a tabulated device).
    ngspice's ``pwl`` takes only a node quantity, so the hats are ``max(0, 1 - |x0 - x_k| / h)``."""
    h = float(xs[1] - xs[0])
    if not np.allclose(np.diff(xs), h, rtol=1e-9):
        raise ConfigError("the read table needs uniformly spaced states")
    terms = [f"max(0, 1 - abs(x0 - {xk:.9g})/{h:.9g}) * {_pwl('V(p, n)', vs, current[k])}"
             for k, xk in enumerate(xs)]
    return Subckt(name, ("p", "n"), (BehavioralSource("Bi", ("p", "n"), "I", Expr(" + ".join(terms))),),
                  params=(("x0", float(0.5 * (xs[0] + xs[-1]))),))


def _interp2(xs: np.ndarray, vs: np.ndarray, table: np.ndarray, x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of ``table`` (len(xs), len(vs)) at (x, v), clipped to the grid."""
    x, v = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(v, dtype=float))
    xc, vc = np.clip(x, xs[0], xs[-1]), np.clip(v, vs[0], vs[-1])
    i = np.clip(np.searchsorted(xs, xc, side="right") - 1, 0, xs.size - 2)
    j = np.clip(np.searchsorted(vs, vc, side="right") - 1, 0, vs.size - 2)
    wx = (xc - xs[i]) / (xs[i + 1] - xs[i])
    wv = (vc - vs[j]) / (vs[j + 1] - vs[j])
    return ((1 - wx) * ((1 - wv) * table[i, j] + wv * table[i, j + 1])
            + wx * ((1 - wv) * table[i + 1, j] + wv * table[i + 1, j + 1]))


def file_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class TabulatedDevice(DeviceModel):
    """A numeric twin from tables (see the module docstring): states ``xs``, voltages ``vs`` (V),
    ``current`` (A) and ``rate`` (1/s) of shape (len(xs), len(vs)); ``source``: how to rebuild
    the Verilog-A device it was measured from (``VaDevice.options()`` plus the file's
    ``sha256``); ``info``: what characterization found (range, thresholds, accuracy)."""

    family = FAMILY
    name = FAMILY

    def __init__(self, xs, vs, current, rate, *, source: dict[str, Any] | None = None,
                 info: dict[str, Any] | None = None) -> None:
        self.xs, self.vs = np.asarray(xs, dtype=float), np.asarray(vs, dtype=float)
        self.table_i, self.table_rate = np.asarray(current, dtype=float), np.asarray(rate, dtype=float)
        shape = (self.xs.size, self.vs.size)
        if (self.xs.size < 2 or self.vs.size < 2 or self.table_i.shape != shape or self.table_rate.shape != shape
                or np.any(np.diff(self.xs) <= 0) or np.any(np.diff(self.vs) <= 0)
                or not np.all(np.isfinite(self.table_i)) or not np.all(np.isfinite(self.table_rate))):
            raise ConfigError("a tabulated device needs increasing state and voltage grids and finite tables "
                              f"of shape {shape}")
        self.x_min, self.x_max = float(self.xs[0]), float(self.xs[-1])
        self.source, self.info = dict(source or {}), dict(info or {})
        self.r0 = max(float(np.max(np.abs(self.table_rate))), 1e-300) * 1e-12
        self._asinh = np.arcsinh(self.table_rate / self.r0)
        self._va = None
        self.params = _TableParams(self)

    # -- numeric twin -------------------------------------------------------------------------
    def current(self, v, x):
        return _interp2(self.xs, self.vs, self.table_i, x, v)

    def dxdt(self, v, x):
        return self.r0 * np.sinh(_interp2(self.xs, self.vs, self._asinh, x, v))

    def values(self) -> dict[str, float]:   # no per-device parameters (ExprDevice's integrators ask)
        return {}

    integrate = ExprDevice.integrate
    apply_pulse = ExprDevice.apply_pulse

    # -- netlist forms: the Verilog-A source it was measured from --------------------------------
    def va_device(self):
        """The :class:`~memcircuit.devices.vamodel.VaDevice` this twin was measured from; its
        source must be unchanged (SHA-256)."""
        if self._va is None:
            from memcircuit.devices.vamodel import VaDevice

            if not self.source.get("path"):
                raise ConfigError("this tabulated device names no Verilog-A source, so it has no spice form")
            path = Path(self.source["path"])
            if not path.is_file():
                raise ConfigError(f"the Verilog-A source of this twin is missing: {path}")
            if file_digest(path) != self.source.get("sha256"):
                raise ConfigError(f"{path} changed since it was characterized (SHA-256 differs); run "
                                  f"`memcircuit models characterize {path}` again")
            self._va = VaDevice(path, self.source.get("params") or {}, module=self.source.get("module"),
                                state_node=self.source.get("state_node"), state_param=self.source.get("state_param"),
                                state_min=self.x_min, state_max=self.x_max)
        return self._va

    def va_path(self):
        return self.va_device().path if self.source.get("path") else None

    def osdi_path(self) -> str:
        return self.va_device().osdi_path()

    @property
    def state_node(self) -> str:
        return self.va_device().state_node

    def osdi_model_name(self) -> str:
        return self.va_device().osdi_model_name()

    def osdi_model(self, name: str | None = None):
        return self.va_device().osdi_model(name)

    def instance(self, name, p, n, x0, *, form="va", overrides=None, model=None):
        """The compiled module (``form`` ``va``/``osdi``) or the read form's table instance."""
        from memcircuit.devices.model import canonical_form
        from memcircuit.netlist.ir import SubcktInstance

        if canonical_form(form) == "va":
            return self.va_device().instance(name, p, n, x0, form=form, overrides=overrides, model=model)
        return SubcktInstance(name, (p, n), self.read_subckt().name, (("x0", float(x0)),))

    def state_probe(self, name: str, form: str = "va", path: tuple[str, ...] = (), x0: float = 0.0):
        return self.va_device().state_probe(name, form, path, x0)

    def read_state(self, result, name, x0, form="va", path=()):
        return self.va_device().read_state(result, name, x0, form, path)

    def read_subckt(self) -> Subckt:
        """The measured I-V table, state held at ``x0`` (reads and hybrid bias points)."""
        xs = np.linspace(self.x_min, self.x_max, READ_GRID[0])
        v_max = float(np.max(np.abs(self.vs)))
        vs = np.linspace(-v_max, v_max, READ_GRID[1])
        current = self.current(vs[None, :], xs[:, None])
        digest = hashlib.sha256(self.table_i.tobytes()).hexdigest()[:8]
        return table_read_subckt(f"tab_{digest}_read", xs, vs, current)

    def behavioural_subckt(self) -> Subckt:
        raise ConfigError("a tabulated device has no behavioural state subcircuit: at spice it runs as its "
                          "Verilog-A source")

    # -- description and files ----------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {"name": FAMILY, "family": FAMILY, "source": self.source.get("path", ""),
                "forms": ["numeric"] + (["va"] if self.source.get("path") else []),
                "state_range": [self.x_min, self.x_max], "grid": [self.xs.size, self.vs.size],
                "parameters": [], **{k: v for k, v in self.info.items() if k != "trajectory"}}

    def to_json(self) -> dict[str, Any]:
        return {"family": FAMILY, "params": {}, "va_source": self.source, "info": self.info,
                "table": {"x": self.xs, "v": self.vs, "current": self.table_i, "rate": self.table_rate}}

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str) -> TabulatedDevice:
        try:
            table = data["table"]
            return cls(table["x"], table["v"], table["current"], table["rate"], source=data.get("va_source"),
                       info=data.get("info"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: not a tabulated device ({type(exc).__name__}: {exc})") from None


class _TableParams:
    """What ``describe()`` of parameters shows for a tabulated device: nothing to override."""

    def __init__(self, device: TabulatedDevice) -> None:
        self.device = device

    def describe(self) -> list[dict[str, Any]]:
        return []


# -- characterization ------------------------------------------------------------------------------
#: fraction of the range a snapshot may move the state before it is repeated 1000x shorter
SNAPSHOT_MOVE = 1e-3
#: ngspice tolerances of the reference pulse train: with the defaults (reltol 1e-3, trtol 7) the
#: state of the test's foreign model drifts by 1 % of the conductance range over 200 pulses
#: from an independent reference (scipy LSODA at rtol 1e-10); with these, by 0.03 %
REFERENCE_OPTIONS = (("reltol", 1e-7), ("vntol", 1e-10), ("trtol", 1))


def _rates(device, x: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`VaDevice.snapshot`, repeated with shorter transients where the state moved by more
    than :data:`SNAPSHOT_MOVE` of the range (fast devices at high voltage)."""
    from memcircuit.devices import vamodel

    current, rate = device.snapshot(x, v)
    span = device.x_max - device.x_min
    duration = vamodel.SNAPSHOT
    x, v = np.broadcast_arrays(x, v)
    for _ in range(4):
        fast = np.abs(rate) * duration > SNAPSHOT_MOVE * span
        if not fast.any():
            break
        duration /= 1000.0
        _, rate[fast] = device.snapshot(x[fast], v[fast], duration=duration)
    return current, rate


def _drive(device, x0: np.ndarray, v: np.ndarray, stop: float) -> np.ndarray:
    """States after ``stop`` s at constant ``v`` (V) from ``x0``: one ngspice transient of the
    compiled module, one instance per pair."""
    from memcircuit.netlist import Circuit, Tran, VoltageSource
    from memcircuit.spice.batch import BatchEngine

    elements = []
    for k, (xk, vk) in enumerate(zip(x0, v)):
        elements += [VoltageSource(f"V{k}", (f"a{k}", "0"), dc=float(vk)), device.instance(f"N{k}", f"a{k}", "0", xk)]
    circuit = Circuit("memcircuit characterize: range", elements=tuple(elements), models=(device.osdi_model(),),
                      osdi=(device.osdi_path(),))
    with BatchEngine() as engine:
        result = engine.run(circuit, Tran(stop / 400, stop, max_step=stop / 50, uic=True))
    return np.array([device.read_state(result, f"N{k}", xk)[-1] for k, xk in enumerate(x0)])


def pulse_trajectory(device: DeviceModel, form: str, x0: float, amps: tuple[float, float], width: float,
                     n: int, v_read: float) -> np.ndarray:
    """Conductance (S) at ``v_read`` before and after each of ``n`` pulses of ``amps[0]`` V then
    ``n`` of ``amps[1]`` V, ``width`` s each (edges width/50, gaps width), in ngspice (``form``
    ``"va"``, with :data:`REFERENCE_OPTIONS`) or the numeric twin (``"numeric"``); both through
    :func:`memcircuit.devices.simulate.simulate` on the same PWL waveform."""
    from memcircuit.devices.analysis import pulse_train_wave
    from memcircuit.devices.simulate import simulate
    from memcircuit.netlist import Pwl

    first, reads1, stop1 = pulse_train_wave(n, amps[0], width)
    second, reads2, stop = pulse_train_wave(n, amps[1], width, start=stop1 + width)
    points = first + tuple(p for p in second[1:] if p[0] > stop1)
    reads = np.r_[reads1, reads2]
    record = simulate(device, Pwl(points), stop, x0, form=form, points=max(4000, 80 * n),
                      options=REFERENCE_OPTIONS if form != "numeric" else ())
    x = np.r_[x0, np.interp(reads, record["time"], record["x"])]
    return device.conductance(x, v_read)


def characterize(device, *, v_max: float = 2.0, v_read: float = 0.1, n_x: int = 65, n_v: int = 81,
                 n_pulses: int = 100, v_pulse: tuple[float, float] | None = None) -> TabulatedDevice:
    """A :class:`TabulatedDevice` measured from ``device`` (a
    :class:`~memcircuit.devices.vamodel.VaDevice`) by ngspice (see the module docstring), with
    the accuracy report in ``info``: the conductance after each of ``n_pulses`` set and
    ``n_pulses`` reset pulses, ngspice vs the twin, and the largest difference as a fraction of
    the conductance range. Pulses: ``v_pulse`` (set, reset) V, default 1.5x the thresholds
    (within ``v_max``), ``width`` such that the set train moves the mid state through about 90 %
    of the range."""
    if not v_max > 0 or not 0 < v_read < v_max:
        raise ConfigError(f"characterization needs v_max > v_read > 0 V (got {v_max}, {v_read})")
    if n_x < 9 or n_v < 9 or n_pulses < 1:
        raise ConfigError("characterization needs at least 9 states, 9 voltages and 1 pulse")
    span = device.x_max - device.x_min
    mid = 0.5 * (device.x_min + device.x_max)
    # the state range: where the strongest drive of either polarity leaves the state
    _, rate = _rates(device, np.array([mid, mid]), np.array([v_max, -v_max]))
    if not np.all(np.abs(rate) > 0):
        raise ConfigError(f"{device.module}: the state does not move at +-{v_max:g} V; raise --v-max")
    stop = 20 * span / float(np.min(np.abs(rate)))
    ends = _drive(device, np.array([mid, mid]), np.array([v_max, -v_max]), stop)
    # within the declared range (a bound reached from outside overshoots it by a hair, and a
    # parameter declared `from [0:1]` refuses the start value)
    lo, hi = max(float(np.min(ends)), device.x_min), min(float(np.max(ends)), device.x_max)
    if not hi - lo > 1e-3 * span:
        raise ConfigError(f"{device.module}: the state stays within {lo:.4g} .. {hi:.4g} at +-{v_max:g} V")
    rising = bool(ends[0] > ends[1])   # positive voltage raises the state
    # thresholds: where the rate at mid state reaches 1e-3 of its rate at v_max, per polarity
    amps = np.linspace(v_max / 200, v_max, 200)
    _, r = _rates(device, np.full(2 * amps.size, 0.5 * (lo + hi)), np.r_[amps, -amps])
    up, down = np.abs(r[:amps.size]), np.abs(r[amps.size:])
    th_pos = float(amps[np.flatnonzero(up >= 1e-3 * up[-1])[0]])
    th_neg = -float(amps[np.flatnonzero(down >= 1e-3 * down[-1])[0]])
    # the grid: uniform, refined towards both bounds and around both thresholds
    refine = span * np.geomspace(1e-5, 0.2, 30)
    xs = np.unique(np.r_[np.linspace(lo, hi, n_x), lo + refine, hi - refine])
    around = np.linspace(0.5, 2.5, 41)   # where a rate rises fastest relative to itself
    vs = np.unique(np.r_[np.linspace(-v_max, v_max, n_v), th_pos * around, th_neg * around, 0.0, v_read])
    vs = vs[np.abs(vs) <= v_max]
    source = {**device.options(), "sha256": file_digest(device.path)}
    source.update(state_min=lo, state_max=hi)
    current, rate = _rates(device, xs[:, None], vs[None, :])
    info = {"state_range": [lo, hi], "threshold_v": [th_neg, th_pos], "v_max": v_max, "v_read": v_read,
            "positive_raises_state": rising}
    twin = TabulatedDevice(xs, vs, current, rate, source=source, info=info)
    # accuracy: a pulse train in ngspice vs the twin
    va = twin.va_device()
    amp_set, amp_reset = v_pulse or (min(1.5 * th_pos, v_max), max(1.5 * th_neg, -v_max))
    if not rising:
        amp_set, amp_reset = amp_reset, amp_set
    rate_mid = abs(float(twin.dxdt(np.array(amp_set), np.array(0.5 * (lo + hi)))))
    width = 0.9 * (hi - lo) / (n_pulses * rate_mid)
    g_spice = pulse_trajectory(va, "va", lo, (amp_set, amp_reset), width, n_pulses, v_read)
    g_twin = pulse_trajectory(twin, "numeric", lo, (amp_set, amp_reset), width, n_pulses, v_read)
    g_range = float(np.ptp(va.conductance(np.array([lo, hi]), v_read)))
    error = float(np.max(np.abs(g_twin - g_spice)) / g_range)
    twin.info.update({"read_conductance_s": [float(g) for g in va.conductance(np.array([lo, hi]), v_read)],
                      "accuracy": {"pulses": n_pulses, "amplitudes_v": [amp_set, amp_reset], "width_s": width,
                                   "max_error_of_range": error, "conductance_spice_s": g_spice,
                                   "conductance_twin_s": g_twin}})
    return twin
