"""A family written once as :class:`~memcircuit.devices.equations.Equations` gets all three forms.

:class:`ExprDevice` implements :class:`~memcircuit.devices.base.DeviceModel` from a family's
equations and frozen parameter dataclass:

* numeric twin: ``current``/``dxdt`` evaluate the equations with numpy (parameters may be
  per-device arrays), :meth:`ExprDevice.integrate` solves the state ODE for any voltage
  waveform (a vectorised L-stable Rosenbrock method, :mod:`memcircuit.devices.integrate`, so
  thousands of devices integrate at once), :meth:`ExprDevice.apply_pulse` integrates one rectangular pulse;
* behavioural subcircuit ``.subckt mc_<family>_<hash> p n params: x0 kx <parameters>``::

      Bi p n  I = {current(V(p, n), V(x))}
      Bq q0 0 V = {x0}
      Cx x q0 1 ic=0          (state capacitor, 1 F: V(x) is the state)
      Rx x q0 1e15            (DC path only; time constant 1e15 s)
      Bx 0 x  I = {kx * dxdt(V(p, n), V(x))}

  With ``uic`` the capacitor starts uncharged, so the state starts at ``x0``; in an operating
  point the state sits at ``x0`` wherever ``dxdt`` is zero (no bias). ``kx`` (default 1)
  multiplies the state rate: ``kx = 0`` freezes the device (stuck-at faults);
* Verilog-A module ``mc_<family>[_<variant>]`` in ``models/<family>.va``, generated from the
  same equations by :func:`verilog_a_source` (``python -m memcircuit.devices.generate``
  rewrites the files; a test checks that they are current). The state is ``x0 + V(st)`` with
  ``st`` an internal node carrying ``I(st) <+ ddt(V(st))`` (1 F), so it starts at ``x0`` with
  ``uic`` and at an operating point alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from memcircuit.devices.base import DeviceModel, DeviceParams
from memcircuit.devices.equations import RESERVED, Equations
from memcircuit.devices.integrate import corners, rosenbrock
from memcircuit.errors import ConfigError
from memcircuit.netlist.ir import (
    BehavioralSource,
    Capacitor,
    Element,
    Expr,
    Model,
    ModelInstance,
    Resistor,
    Subckt,
    SubcktInstance,
)

FORMS = ("behavioural", "va", "numeric")
_EQUATIONS: dict[tuple[type, str | None], Equations] = {}
_FORM_ALIASES = {"behavioural": "behavioural", "behavioral": "behavioural", "va": "va", "osdi": "va",
                 "verilog-a": "va", "numeric": "numeric"}
R_LEAK = 1e15  # ohm from the state node to its initial-value node (DC path only)
G_LEAK_VA = 1e-15  # S from the Verilog-A state node to ground (DC path only)


def canonical_form(form: str) -> str:
    """``behavioural``/``behavioral``, ``va``/``osdi``/``verilog-a`` or ``numeric``."""
    try:
        return _FORM_ALIASES[str(form).lower()]
    except KeyError:
        raise ConfigError(f"device form must be one of {', '.join(FORMS)} (or osdi), got {form!r}") from None


_NUMBER_FIELDS: dict[type, list[str]] = {}  # numeric parameter names per parameter class


def _is_number_field(f) -> bool:
    return f.type in ("float", "int", float, int)


def check_params(params: DeviceParams, rules: dict[str, str]) -> None:
    """Check ``rules`` {expression over field names: message} elementwise (arrays allowed)."""
    ns = {f.name: np.asarray(getattr(params, f.name)) for f in fields(params) if _is_number_field(f)}
    for name, value in ns.items():
        if not np.all(np.isfinite(value)):
            raise ConfigError(f"{type(params).__name__}.{name} must be finite, got {value}")
    for rule, message in rules.items():
        ok = eval(rule, {"__builtins__": {}, "np": np}, ns)  # noqa: S307 - rules are ours
        if not np.all(ok):
            raise ConfigError(f"{type(params).__name__}: {message} ({rule})")


@dataclass(frozen=True)
class Preset:
    """A published parameter set: ``family`` registry name, parameter ``values``, ``source``."""

    family: str
    values: dict[str, Any]
    source: str
    note: str = ""


class ExprDevice(DeviceModel):
    """A memristor family defined by :class:`Equations` (see the module docstring)."""

    va_file: ClassVar[str | None] = None
    variant_field: ClassVar[str | None] = None   # a str field choosing between equation variants
    variants: ClassVar[tuple[str, ...]] = ()
    d2d_params: ClassVar[tuple[str, ...]] = ()   # what a scalar device-to-device spread varies
    rules: ClassVar[dict[str, str]] = {}         # parameter checks: expression -> message
    source: ClassVar[str] = ""                   # paper the equations come from
    #: default I-V sweep (amplitude V, frequency Hz, initial state) that shows the loop
    demo: ClassVar[tuple[float, float, float]] = (1.0, 1.0, 0.5)

    def __init__(self, params: DeviceParams | None = None) -> None:
        super().__init__(params)
        if not isinstance(self.params, self.params_class):
            raise ConfigError(f"{self.family} needs {self.params_class.__name__}, got {type(self.params).__name__}")
        if self.variant_field and self.variant not in self.variants:
            raise ConfigError(f"{self.family}: {self.variant_field} must be one of {', '.join(self.variants)}, "
                              f"got {self.variant!r}")
        check_params(self.params, self.rules)

    # -- equations ----------------------------------------------------------------------------
    @classmethod
    def equations_for(cls, variant: str | None) -> Equations:
        raise NotImplementedError

    @property
    def variant(self) -> str | None:
        return getattr(self.params, self.variant_field) if self.variant_field else None

    @property
    def equations(self) -> Equations:
        key = (type(self), self.variant)
        if key not in _EQUATIONS:
            _EQUATIONS[key] = self.equations_for(self.variant)
        return _EQUATIONS[key]

    @classmethod
    def number_fields(cls) -> list[str]:
        names = _NUMBER_FIELDS.get(cls.params_class)
        if names is None:
            names = _NUMBER_FIELDS[cls.params_class] = [f.name for f in fields(cls.params_class)
                                                        if _is_number_field(f)]
        return list(names)

    @classmethod
    def check_equations(cls) -> None:
        names = set(cls.number_fields())
        clash = names & RESERVED
        if clash:
            raise ConfigError(f"{cls.family}: parameter names {sorted(clash)} are reserved")
        for variant in cls.variants or (None,):
            cls.equations_for(variant).check(names)

    def values(self) -> Mapping[str, Any]:
        """The numeric parameters (scalars, or arrays for per-cell devices), read-only.

        Built once per parameter object: the training loop evaluates the device equations at
        every constant-voltage interval of every program (thousands of times an epoch)."""
        cached = self.__dict__.get("_values")
        if cached is None or cached[0] is not self.params:
            values = MappingProxyType({k: getattr(self.params, k) for k in self.number_fields()})
            cached = self.__dict__["_values"] = (self.params, values)
        return cached[1]

    def evaluate(self, v, x, what: tuple[str, ...]) -> tuple[np.ndarray, ...]:
        return self.equations.evaluate(self.values(), v, x, what)

    # -- numeric twin -------------------------------------------------------------------------
    def current(self, v: np.ndarray, x: np.ndarray) -> np.ndarray:
        return self.evaluate(v, x, ("current",))[0]

    def dxdt(self, v: np.ndarray, x: np.ndarray) -> np.ndarray:
        return self.evaluate(v, x, ("dxdt",))[0]

    def integrate(self, t: np.ndarray, v, x0: np.ndarray, *, rtol: float = 1e-3,
                  atol: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
        """Integrate the state ODE over the time points ``t`` (s, increasing) for the applied
        voltage ``v`` (V): an array like ``t`` (same waveform for every device), an array of
        shape ``(len(t), *x0.shape)``, or a function ``v(t) -> array`` (smooth; sample it
        instead if it has corners). Between samples the voltage is linear (like a PWL source);
        steps never cross a corner of it and are at most four sample intervals long.
        Solver: :func:`memcircuit.devices.integrate.rosenbrock`.
        Returns ``(x, i)``, each of shape ``(len(t), *x0.shape)`` (dimensionless, A)."""
        t = np.asarray(t, dtype=float)
        if t.ndim != 1 or t.size < 2 or not np.all(np.diff(t) > 0):
            raise ConfigError("integration needs at least two strictly increasing time points")
        x0 = np.atleast_1d(np.asarray(x0, dtype=float))
        shape = np.broadcast_shapes(x0.shape, *(np.shape(a) for a in self.values().values()))
        x0 = np.broadcast_to(x0, shape)
        if callable(v):
            def vfun(tt):
                return np.broadcast_to(np.asarray(v(tt), dtype=float), shape)
            samples = np.stack([vfun(tt) for tt in t])
            breaks = None
        else:
            arr = np.asarray(v, dtype=float)
            if arr.shape[:1] != t.shape:
                raise ConfigError(f"voltage samples must have len(t) = {t.size} rows, got shape {arr.shape}")
            if not np.all(np.isfinite(arr)):
                raise ConfigError("voltage samples must be finite")
            samples = np.broadcast_to(arr.reshape(arr.shape + (1,) * (1 + len(shape) - arr.ndim)), (t.size,) + shape)
            breaks = corners(t, samples)

            def vfun(tt):
                k = int(np.clip(np.searchsorted(t, tt, side="right") - 1, 0, t.size - 2))
                w = (tt - t[k]) / (t[k + 1] - t[k])
                return samples[k] * (1 - w) + samples[k + 1] * w

        # Steps stay within four sample intervals (the samples set the waveform's resolution, and
        # a step over a quiet stretch must not jump a whole half-cycle) and never cross a corner.
        x = rosenbrock(lambda tt, y: self.dxdt(vfun(tt), y), x0.copy(), t, breakpoints=breaks, rtol=rtol, atol=atol,
                       samples=t, reach=4)
        return x, self.current(samples, x)

    def apply_pulse(self, x: np.ndarray, amplitude: np.ndarray | float, width: np.ndarray | float,
                    rng: np.random.Generator | None = None) -> np.ndarray:
        """State after a rectangular pulse of ``amplitude`` V for ``width`` s (vectorised; the
        state ODE at constant voltage, integrated in time scaled by each pulse's width). ``rng``
        is unused: these models have no cycle-to-cycle noise term."""
        x, a, w = np.broadcast_arrays(*(np.asarray(q, dtype=float) for q in (x, amplitude, width)))
        shape = np.broadcast_shapes(x.shape, *(np.shape(q) for q in self.values().values()))
        x, a, w = (np.broadcast_to(q, shape) for q in (x, a, w))
        if np.any(w < 0) or not np.all(np.isfinite(w)) or not np.all(np.isfinite(a)):
            raise ConfigError("pulse widths must be finite and >= 0 s, amplitudes finite")
        if x.size == 0:
            return x.copy()
        y = rosenbrock(lambda _tau, y: w * self.dxdt(a, y), x.copy(), np.array([0.0, 1.0]), rtol=1e-5, atol=1e-8)
        return y[-1]

    # -- netlist forms ------------------------------------------------------------------------
    def _scalar_values(self) -> dict[str, float]:
        vals = self.values()
        bad = [k for k, v in vals.items() if np.ndim(v) != 0]
        if bad:
            raise ConfigError(f"{self.family}: per-cell parameters {bad} cannot define a shared subcircuit; "
                              "use the device array's instance() per cell")
        return {k: float(v) for k, v in vals.items()}

    @property
    def va_module(self) -> str:  # type: ignore[override]
        return f"mc_{self.family}" + (f"_{self.variant}" if self.variant else "")

    def subckt_name(self) -> str:
        digest = hashlib.sha256(repr(sorted(self._scalar_values().items())).encode()).hexdigest()[:8]
        return f"{self.va_module}_{digest}"

    def behavioural_subckt(self) -> Subckt:
        cur, dx = self.equations.spice()
        params = (("x0", 0.5), ("kx", 1.0)) + tuple(self._scalar_values().items())
        return Subckt(self.subckt_name(), ("p", "n"), (
            BehavioralSource("Bi", ("p", "n"), "I", Expr(cur)),
            BehavioralSource("Bq", ("q0", "0"), "V", Expr("x0")),
            Capacitor("Cx", ("x", "q0"), 1.0, ic=0.0),
            Resistor("Rx", ("x", "q0"), R_LEAK),
            BehavioralSource("Bx", ("0", "x"), "I", Expr(f"kx * ({dx})")),
        ), params=params)

    def osdi_model(self, name: str | None = None) -> Model:
        """``.model <name> mc_<family>[_<variant>] (parameters)`` for the compiled Verilog-A."""
        return Model(name or self.osdi_model_name(), self.va_module, tuple(self._scalar_values().items()))


    def osdi_path(self) -> str:
        """Path of the compiled module (compiled on first use; :class:`ModelCompileError`
        when OpenVAF is missing)."""
        from memcircuit.spice.osdi import compile_va

        return str(compile_va(self.va_path()))

    def va_path(self):
        return super().va_path() if self.va_file else None

    def instance(self, name: str, p: str, n: str, x0: float, *, form: str = "behavioural",
                 overrides: dict[str, float] | None = None, model: str | None = None) -> Element:
        """One device between nodes ``p`` and ``n`` starting at state ``x0``.

        ``form="behavioural"``: ``X<name> p n <subckt> x0=.. [overrides]``; the subcircuit is
        :meth:`behavioural_subckt` (add it to the circuit) and the state is the node voltage
        ``v(<name>.x)`` (lower case; ``v(<outer>.<name>.x)`` inside another subcircuit).

        ``form="va"`` (or ``"osdi"``): ``N<name> p n <model> x0=.. [overrides]`` referring to
        :meth:`osdi_model` (default name ``<family>_va``); the circuit must load
        :meth:`osdi_path` (``Circuit(osdi=(device.osdi_path(),))``). A name that does not start
        with ``N`` gets an ``N`` in front (``Xd0_0`` -> ``NXd0_0``). **State read-back**: ngspice
        names the internal node of an OSDI instance ``<instance>#st`` (lower case, with the
        subcircuit path in front: ``xxbar.nxd0_0#st``). ``write <file> all`` (what the batch
        engine does) and the shared engine both include it, so the result holds ``v(nm#st)``; interactively it is
        ``print v(nm#st)`` / ``.save v(nm#st)``. It holds ``x - x0`` (the module's state node
        starts at 0 with ``uic`` and at an operating point alike), so the state is
        ``x0 + v(nm#st)``: see :meth:`state_probe` / :meth:`read_state`.

        ``overrides``: per-instance parameter values (device-to-device variation, ``kx = 0``
        for a stuck device); both forms accept every numeric parameter on the instance line.
        """
        form = canonical_form(form)
        params: list[tuple[str, float]] = [("x0", float(x0))]
        valid = {"kx", *self.number_fields()}
        for k, val in (overrides or {}).items():
            if k not in valid:
                raise ConfigError(f"{self.family}: no parameter {k!r}; valid: {', '.join(sorted(valid))}")
            params.append((k, float(val)))
        if form == "behavioural":
            return SubcktInstance(name, (p, n), self.subckt_name(), tuple(params))
        if form == "va":
            if self.va_file is None:
                raise ConfigError(f"{self.family} has no Verilog-A form")
            inst = name if name[:1].upper() == "N" else f"N{name}"
            return ModelInstance(inst, (p, n), model or self.osdi_model_name(), tuple(params))
        raise ConfigError("the numeric form has no netlist instance; use the device's numeric twin")

    # -- description ------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Name, family, source and parameters (value, unit, meaning) of this device."""
        out = {"name": self.name or self.family, "family": self.family, "source": self.source,
               "forms": ["behavioural", "numeric"] + (["va"] if self.va_file else []),
               "parameters": self.params.describe()}
        if self.variant_field:
            out["variants"] = {self.variant_field: list(self.variants)}
        return out


def default_value(params_class: type, name: str) -> Any:
    for f in fields(params_class):
        if f.name == name:
            return f.default if f.default is not MISSING else None
    raise KeyError(name)
