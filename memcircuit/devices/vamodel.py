"""A user's Verilog-A memristor model as a device (``--device my_model.va``).

The contract a module must meet (checked here, written out in docs/DEVICES.md):

* it passes :func:`memcircuit.devices.vacheck.check_va` (two electrical terminals, no construct
  OpenVAF or ngspice cannot run faithfully, compiles, solves an operating point);
* its state lives on an internal node integrated by ``ddt`` and started by an instance
  parameter, in the offset form the generated models use: ``x = x0 + V(st)``,
  ``I(st) <+ ddt(V(st)) - dxdt``. The node (``state_node``) and the parameter (``state_param``)
  are found by name (the only ``ddt`` node, the parameter added to it, else conventional names:
  :data:`STATE_NODES`, :data:`STATE_PARAMS`) or named by the user; that the parameter sets the
  state is verified by simulation (:meth:`VaDevice.verify`);
* conductance is measured, never assumed: :meth:`VaDevice.snapshot` runs 1 ps transients of the
  compiled module started at each state (an operating point cannot hold an OpenVAF state: the
  node's DC equation weighs its tiny leak against any rate, however small, and drives the state
  to a bound) and takes the current and the state rate from them.

The device runs as the compiled module (ngspice ``N`` instances) in programming transients and
through its measured I-V in DC reads; it has no numeric twin: ``memcircuit models characterize``
builds one (:mod:`memcircuit.devices.tabulated`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from memcircuit.devices.base import DeviceModel
from memcircuit.devices.model import canonical_form
from memcircuit.errors import ConfigError
from memcircuit.netlist.ir import Element, Expr, Model, ModelInstance, Subckt
from memcircuit.netlist.probes import Current, StateNode

#: state nodes and start parameters recognised without --state-node / --state-param, in order
STATE_NODES = ("x", "w", "state", "s", "st", "xs", "ws")
STATE_PARAMS = ("x0", "w0", "x_init", "xinit", "x_0", "w_init", "winit", "state0", "state_init", "s0", "st0")
#: device options that are memcircuit's, not the module's parameters
OPTIONS = ("module", "state_node", "state_param", "state_min", "state_max")
#: states across the range at which the read conductance curve is measured
CURVE_POINTS = 257
#: duration (s) of the transient that measures current and state rate (:meth:`VaDevice.snapshot`)
SNAPSHOT = 1e-12
SNAPSHOT_CHUNK = 4000   # instances per ngspice run
#: voltages (V, +-) the read form of a Verilog-A device tabulates
READ_V_MAX = 1.0

_PARAM = re.compile(r"\bparameter\s+(?:real|integer)?\s*([^;]*);")
_ASSIGN = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*(.+?)\s*(?:\bfrom\b.*|\bexclude\b.*)?$", re.S)
_NEEDS_TWIN = ("{name} is a Verilog-A model without a numeric twin: it runs compiled in ngspice circuits, while the "
               "numeric, ideal and hybrid fidelities need the twin (train and sweep build it themselves); build it "
               "with `memcircuit models characterize {path} -o twin.json` and pass --device twin.json")


def module_parameters(text: str) -> dict[str, float | None]:
    """``parameter real name = value`` declarations of one module's (comment-free) source:
    name -> default value (None when the default is not a plain number)."""
    out: dict[str, float | None] = {}
    for decl in _PARAM.finditer(text):
        depth, start, parts = 0, 0, []
        body = decl.group(1)
        for k, c in enumerate(body):
            depth += c in "([{"
            depth -= c in ")]}"
            if c == "," and depth == 0:
                parts.append(body[start:k])
                start = k + 1
        parts.append(body[start:])
        for part in parts:
            m = _ASSIGN.match(part)
            if m:
                try:
                    out[m.group(1)] = float(m.group(2))
                except ValueError:
                    out[m.group(1)] = None
    return out


_INSTANCE = re.compile(r'\(\*[^)]*?\btype\s*=\s*"instance"[^)]*?\*\)\s*parameter\s+(?:real|integer)?\s*([^;]*);')


def instance_parameters(raw: str, module: str) -> set[str]:
    """Names of ``module``'s parameters marked ``(* type="instance" *)`` in the raw source (OpenVAF
    makes every other parameter a model parameter, which an instance line cannot set)."""
    m = re.search(rf"\b(?:macro)?module\s+{re.escape(module)}\b(.*?)\bendmodule\b", raw, re.S)
    names: set[str] = set()
    for decl in _INSTANCE.finditer(m.group(1) if m else ""):
        names.update(module_parameters(f"parameter real {decl.group(1)};"))
    return names


_RANGE = re.compile(r"\bfrom\s*([\[(])\s*([^:\])]+)\s*:\s*([^\])]+)\s*([\])])")


def parameter_bounds(text: str, name: str) -> tuple[float, float]:
    """The ``from [lo:hi]`` range declared for parameter ``name`` (open ends moved inwards by
    1e-9 of the span, or of 1 when it is infinite, so that the netlist's 12 digits keep them
    inside; -inf/inf when absent or not numeric)."""
    m = re.search(rf"\b{re.escape(name)}\s*=[^;,]*?{_RANGE.pattern}", text)
    if not m:
        return -np.inf, np.inf
    try:
        lo, hi = float(m.group(2)), float(m.group(3))
    except ValueError:
        return -np.inf, np.inf
    nudge = 1e-9 * ((hi - lo) if np.isfinite(hi - lo) else 1.0)
    return (lo + nudge if m.group(1) == "(" else lo), (hi - nudge if m.group(4) == ")" else hi)


class VaParams:
    """The module's parameters (name -> value, SI as the model defines them)."""

    def __init__(self, values: dict[str, float], defaults: dict[str, float | None]) -> None:
        self.values, self.defaults = dict(values), dict(defaults)

    def describe(self) -> list[dict[str, Any]]:
        return [{"name": k, "default": self.values.get(k, v), "unit": "", "doc": "module parameter"}
                for k, v in self.defaults.items()]


class VaDevice(DeviceModel):
    """A user's Verilog-A module as a device (see the module docstring).

    ``path``: the ``.va`` file; ``params``: module parameter values (numbers or SI strings);
    ``module``: which module when the file holds several; ``state_node`` / ``state_param``: the
    state's internal node and start parameter (found by name when omitted); ``state_min`` /
    ``state_max``: the state range (default 0 .. 1). Raises :class:`ModelCompileError` with the
    first finding of ``memcircuit models check`` before anything is simulated, and
    :class:`ConfigError` when the contract is not met."""

    family = "verilog_a"
    name = "verilog-a"
    demo = (1.0, 1e3, 0.5)
    va_only = True   # no behavioural or numeric form

    def __init__(self, path: str | Path, params: dict[str, Any] | None = None, *, module: str | None = None,
                 state_node: str | None = None, state_param: str | None = None,
                 state_min: float = 0.0, state_max: float = 1.0) -> None:
        from memcircuit.devices.vacheck import runnable_report
        from memcircuit.units import parse_si

        self.path = Path(path)
        report = runnable_report(self.path)   # the gate: one line per first finding, before any simulation
        self.osdi = report.osdi
        if module is None:
            if len(report.modules) != 1:
                raise ConfigError(f"{self.path} holds modules {', '.join(report.modules)}; choose one with "
                                  "--device-param module=NAME")
            module = report.modules[0]
        if module not in report.modules:
            raise ConfigError(f"{self.path} has no module {module!r}; it holds {', '.join(report.modules)}")
        self.module = module
        text = _module_text(self.path, module)
        defaults = module_parameters(text)
        values = {}
        for key, value in (params or {}).items():
            if key not in defaults:
                raise ConfigError(f"{self.path.name}: module {module} has no parameter {key!r}; "
                                  f"its parameters: {', '.join(defaults) or 'none'}")
            values[key] = parse_si(value, name=f"{module}.{key}")
        self.params = VaParams(values, defaults)
        self.state_node = _choose(state_node, report.states.get(module, []), STATE_NODES, "state node",
                                  "--state-node NAME (device option state_node)", self.path, module)
        offset = _offset_parameter(text, self.state_node, defaults) if state_param is None else None
        self.state_param = offset or _choose(state_param, list(defaults), STATE_PARAMS, "state start parameter",
                                             "--state-param NAME (device option state_param)", self.path, module)
        if self.state_param not in instance_parameters(self.path.read_text(errors="replace"), module):
            raise ConfigError(f"{self.path.name}: the state start parameter {self.state_param} of {module} is a model "
                              "parameter, which ngspice cannot set per device; declare it per instance: "
                              f'(* type="instance" *) parameter real {self.state_param} = ...;')
        self.start_bounds = parameter_bounds(text, self.state_param)
        if not float(state_max) > float(state_min):
            raise ConfigError(f"state_max must exceed state_min, got {state_min} .. {state_max}")
        self.x_min, self.x_max = float(state_min), float(state_max)
        self._curves: dict[float, tuple[np.ndarray, np.ndarray]] = {}
        self._read: Subckt | None = None
        self.verify()   # the whole contract is checked before a command starts its work

    # -- identity ---------------------------------------------------------------------------
    def __str__(self) -> str:
        return str(self.path)

    def options(self) -> dict[str, Any]:
        """What rebuilds this device: path, module, parameters, state node/parameter and range."""
        return {"path": str(self.path.resolve()), "module": self.module, "params": dict(self.params.values),
                "state_node": self.state_node, "state_param": self.state_param,
                "state_min": self.x_min, "state_max": self.x_max}

    def describe(self) -> dict[str, Any]:
        return {"name": str(self.path), "family": self.family, "module": self.module, "source": str(self.path),
                "forms": ["va"], "state_node": self.state_node, "state_param": self.state_param,
                "state_range": [self.x_min, self.x_max], "parameters": self.params.describe()}

    # -- netlist forms ----------------------------------------------------------------------
    def va_path(self) -> Path:
        return self.path

    def osdi_path(self) -> str:
        return str(self.osdi)

    def osdi_model_name(self) -> str:
        return f"{self.module}_va"

    def osdi_model(self, name: str | None = None) -> Model:
        """``.model <name> <module> (parameters)`` of the compiled module with these parameters."""
        return Model(name or self.osdi_model_name(), self.module, tuple(sorted(self.params.values.items())))

    def instance(self, name: str, p: str, n: str, x0: float | Expr, *, form: str = "va",
                 overrides: dict[str, float] | None = None, model: str | None = None) -> Element:
        """``N<name> p n <model> <state_param>=x0``: the compiled module, whatever ``form`` asks
        (it has no other circuit form)."""
        if canonical_form(form) == "numeric":
            raise ConfigError(self.needs_twin())
        if overrides:
            raise ConfigError(f"{self.module}: per-instance parameters are not supported for Verilog-A devices")
        inst = name if name[:1].upper() == "N" else f"N{name}"
        # a state a hair beyond a declared `from [0:1]` (a bound reached from outside) is started on
        # the bound: ngspice refuses the value, and a crash follows
        value = x0 if isinstance(x0, Expr) else float(np.clip(float(x0), *self.start_bounds))
        return ModelInstance(inst, (p, n), model or self.osdi_model_name(), ((self.state_param, value),))

    def state_probe(self, name: str, form: str = "va", path: tuple[str, ...] = (), x0: float = 0.0) -> StateNode:
        """The compiled module's state node, whatever ``form`` says (it has no other form)."""
        return super().state_probe(name, "va", path, x0)

    def read_state(self, result, name: str, x0: float | np.ndarray, form: str = "va",
                   path: tuple[str, ...] = ()) -> np.ndarray:
        return np.asarray(result[self.state_probe(name, form, path)], dtype=float) + x0

    def behavioural_subckt(self) -> Subckt:
        raise ConfigError(f"{self.module} is a Verilog-A model: it has no behavioural form (it runs compiled)")

    # -- measured by simulation --------------------------------------------------------------
    def snapshot(self, x: np.ndarray, v: np.ndarray, *, duration: float | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
        """``(current A, dx/dt 1/s)`` of the compiled module at every pair of state ``x`` and voltage
        ``v`` (broadcast): one ngspice transient of ``duration`` s (default :data:`SNAPSHOT`) with ``uic`` (the state
        starts at ``x``) of one instance per pair on its own source. The current is taken at the
        first time point, the rate from the state node at the end (it moves by ``rate * 1 ps``,
        far below any change of the current)."""
        from memcircuit.netlist import Circuit, Tran, VoltageSource
        from memcircuit.spice.batch import BatchEngine

        duration = SNAPSHOT if duration is None else float(duration)
        x, v = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(v, dtype=float))
        flat_x, flat_v = x.ravel(), v.ravel()
        current, rate = np.empty(flat_x.size), np.empty(flat_x.size)
        for lo in range(0, flat_x.size, SNAPSHOT_CHUNK):
            ks = range(lo, min(lo + SNAPSHOT_CHUNK, flat_x.size))
            elements: list[Element] = []
            for k in ks:
                elements += [VoltageSource(f"V{k}", (f"a{k}", "0"), dc=float(flat_v[k])),
                             self.instance(f"N{k}", f"a{k}", "0", float(flat_x[k]))]
            circuit = Circuit(f"memcircuit {self.module} snapshot", elements=tuple(elements),
                              models=(self.osdi_model(),), osdi=(self.osdi_path(),))
            with BatchEngine() as engine:
                result = engine.run(circuit, Tran(duration / 10, duration, max_step=duration / 10, uic=True))
            stop = float(result.time[-1])
            for k in ks:
                current[k] = -float(result[Current(f"V{k}")][1])
                rate[k] = float(result[self.state_probe(f"N{k}")][-1]) / stop
        if not (np.all(np.isfinite(current)) and np.all(np.isfinite(rate))):
            raise ConfigError(f"{self.module}: non-finite current or state rate in ngspice")
        return current.reshape(x.shape), rate.reshape(x.shape)

    def verify(self) -> None:
        """Check by simulation that the start parameter sets the state: the current at
        :data:`memcircuit.devices.vacheck.SMOKE_VOLTAGE` differs between the two ends of the range
        (raises :class:`ConfigError` otherwise)."""
        from memcircuit.devices.vacheck import SMOKE_VOLTAGE

        current = self.snapshot(np.array([self.x_min, self.x_max]), SMOKE_VOLTAGE)[0]
        if not abs(current[1] - current[0]) > 1e-6 * max(abs(current[0]), abs(current[1]), 1e-30):
            raise ConfigError(f"{self.path.name}: {self.module} carries the same current ({current[0]:.4g} A at "
                              f"{SMOKE_VOLTAGE} V) started at {self.state_param} = {self.x_min:g} and "
                              f"{self.x_max:g}: the parameter does not set the state; write the state as "
                              f"x = {self.state_param} + V({self.state_node}) with "
                              f"I({self.state_node}) <+ ddt(V({self.state_node})) - dxdt (docs/DEVICES.md)")

    def conductance(self, x: np.ndarray, v_read: float = 0.1) -> np.ndarray:
        """Chord conductance I(v_read)/v_read (S) of the compiled module, from the curve measured
        by :meth:`snapshot` at :data:`CURVE_POINTS` states across the range (linear interpolation)."""
        key = float(v_read)
        if key not in self._curves:
            xs = np.linspace(self.x_min, self.x_max, CURVE_POINTS)
            self._curves[key] = (xs, self.snapshot(xs, key)[0] / key)
        xs, g = self._curves[key]
        return np.interp(np.clip(np.asarray(x, dtype=float), self.x_min, self.x_max), xs, g)

    def read_subckt(self) -> Subckt:
        """The read form: the compiled module's I-V measured by :meth:`snapshot` on a grid of
        states and voltages, held at the subcircuit's ``x0`` (a DC operating point of the module
        itself would let the state drift to its bound: ngspice solves the state node's tiny DC
        leak against any rate, however small)."""
        if self._read is None:
            from memcircuit.devices.tabulated import READ_GRID, table_read_subckt

            xs = np.linspace(self.x_min, self.x_max, READ_GRID[0])
            vs = np.linspace(-READ_V_MAX, READ_V_MAX, READ_GRID[1])
            current = self.snapshot(xs[:, None], vs[None, :])[0]
            self._read = table_read_subckt(f"{self.osdi_model_name()}_read", xs, vs, current)
        return self._read

    # -- no numeric twin --------------------------------------------------------------------
    def needs_twin(self) -> str:
        return _NEEDS_TWIN.format(name=self.path.name, path=self.path)

    def current(self, v, x):
        raise ConfigError(self.needs_twin())

    def dxdt(self, v, x):
        raise ConfigError(self.needs_twin())

    def integrate(self, t, v, x0):
        raise ConfigError(self.needs_twin())

    def apply_pulse(self, x, amplitude, width, rng=None):
        raise ConfigError(self.needs_twin())


def _module_text(path: Path, module: str) -> str:
    """The comment-free source of ``module`` (includes next to the file inlined)."""
    from memcircuit.devices.vacheck import source_text

    text = source_text(path)
    m = re.search(rf"\b(?:macro)?module\s+{re.escape(module)}\b(.*?)\bendmodule\b", text, re.S)
    return m.group(1) if m else ""


def _offset_parameter(text: str, node: str, params: dict[str, float | None]) -> str | None:
    """The parameter the module adds to its state node (``x = x0 + V(st)`` or ``V(st) + x0``)."""
    probe = rf"V\s*\(\s*{re.escape(node)}\s*\)"
    for pattern in (rf"\b([A-Za-z_]\w*)\s*\+\s*{probe}", rf"{probe}\s*\+\s*([A-Za-z_]\w*)\b"):
        for m in re.finditer(pattern, text):
            if m.group(1) in params:
                return m.group(1)
    return None


def _choose(given: str | None, found: list[str], conventional: tuple[str, ...], what: str, option: str,
            path: Path, module: str) -> str:
    """The user's choice (checked against what the module has), else the only candidate or the
    first conventional name present."""
    if given is not None:
        if given not in found:
            raise ConfigError(f"{path.name}: module {module} has no {what} {given!r}"
                              f"{'; it has ' + ', '.join(found) if found else ''}")
        return given
    if what == "state node" and len(found) == 1:
        return found[0]
    for name in conventional:
        if name in found:
            return name
    lower = {f.lower(): f for f in found}
    for name in conventional:
        if name in lower:
            return lower[name]
    raise ConfigError(f"{path.name}: module {module} has no readable {what} by a conventional name "
                      f"({', '.join(conventional)}); it has {', '.join(found) or 'none'}: name it with {option}")


def is_va_path(name: Any) -> bool:
    """True when ``name`` names a Verilog-A file (``.va`` / ``.vams``)."""
    return isinstance(name, (str, Path)) and str(name).lower().endswith((".va", ".vams"))


def va_device(path: str | Path, **overrides: Any) -> VaDevice:
    """A :class:`VaDevice` from ``get_device``-style keywords: memcircuit's :data:`OPTIONS` and
    module parameters side by side."""
    options = {k: overrides.pop(k) for k in list(overrides) if k in OPTIONS}
    for key in ("state_min", "state_max"):
        if key in options:
            from memcircuit.units import parse_si

            options[key] = parse_si(options[key], name=key)
    return VaDevice(path, overrides, **options)
