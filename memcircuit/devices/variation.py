"""Device-to-device variation and stuck-at faults: per-cell devices in all three forms.

:func:`sample_devices` draws, from one seeded generator, a :class:`DeviceArray`: the family's
parameters as arrays of the cell shape (log-normal spread around the nominal value, median
nominal, ``sigma`` the standard deviation of the logarithm, i.e. the relative spread for small
sigma) plus stuck-at-on / stuck-at-off masks. The array is itself a
:class:`~memcircuit.devices.base.DeviceModel`:

* numeric twin: ``current``/``dxdt``/``apply_pulse``/``integrate`` take state arrays of the cell
  shape (or broadcasting to it, e.g. ``(batch, rows, cols)``); stuck cells hold the state of
  their fault. For a subset of cells use ``array.select(mask)`` first;
* netlists: ``array.instance(name, p, n, x0, form=..., cell=(i, j))`` writes that cell's
  parameters as instance overrides of the nominal subcircuit / OSDI model (``kx = 0`` and the
  fault state for stuck cells); ``array.cell_overrides((i, j))`` gives the overrides alone.

The same seed gives the same devices in every form because all forms read the same arrays.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

import numpy as np

from memcircuit.devices.base import DeviceModel
from memcircuit.devices.model import ExprDevice
from memcircuit.errors import ConfigError
from memcircuit.netlist.ir import Element, Model, Subckt


class DeviceArray(DeviceModel):
    """Devices of one family with per-cell parameters and faults (see the module docstring)."""

    def __init__(self, nominal: ExprDevice, values: dict[str, np.ndarray], stuck: np.ndarray) -> None:
        self._nominal = nominal
        self.family = nominal.family
        self.name = nominal.name
        self.params_class = nominal.params_class
        self.va_file = nominal.va_file
        self.x_min, self.x_max = nominal.x_min, nominal.x_max
        self.ohmic = nominal.ohmic
        self.stuck = np.asarray(stuck, dtype=np.int8)
        self.cell_shape = self.stuck.shape
        self.values_ = {k: np.asarray(v, dtype=float) for k, v in values.items()}
        self.params = replace(nominal.params, **self.values_)
        self.model = type(nominal)(self.params)
        g_lo, g_hi = (float(np.mean(nominal.conductance(np.array([x])))) for x in (nominal.x_min, nominal.x_max))
        self.x_on, self.x_off = (nominal.x_max, nominal.x_min) if g_hi >= g_lo else (nominal.x_min, nominal.x_max)

    @property
    def nominal(self) -> ExprDevice:
        return self._nominal

    @property
    def va_module(self) -> str:  # type: ignore[override]
        return self.nominal.va_module

    def select(self, index: Any) -> DeviceArray:
        return DeviceArray(self.nominal, {k: v[index] for k, v in self.values_.items()}, self.stuck[index])

    def _check(self, x: np.ndarray) -> np.ndarray:
        """States must end in the cell shape, else per-cell parameters would pair with the wrong
        cells (a 1-D subset x[mask] broadcasts silently against (rows, cols) when it happens to
        have ``cols`` entries)."""
        x = np.asarray(x, dtype=float)
        k = len(self.cell_shape)
        if k and x.shape[x.ndim - k:] != self.cell_shape:
            raise ConfigError(f"per-cell devices of shape {self.cell_shape} got states of shape {x.shape}; "
                              "for a subset of cells use device.select(mask) with x[mask]")
        return x

    def _pin(self, x: np.ndarray) -> np.ndarray:
        x = self._check(x)
        if not self.stuck.any():
            return x
        return np.where(self.stuck > 0, self.x_on, np.where(self.stuck < 0, self.x_off, x))

    # -- numeric twin -------------------------------------------------------------------------
    def current(self, v, x):
        return self.model.current(v, self._pin(x))

    def didv(self, v, x):
        return self.model.didv(v, self._pin(x))

    def dxdt(self, v, x):
        return np.where(self.stuck != 0, 0.0, self.model.dxdt(v, self._pin(x)))

    def integrate(self, t, v, x0, **kw):
        x, _ = self.model.integrate(t, v, self._pin(x0), **kw)
        x = self._pin(x)
        vv = np.asarray(v(np.asarray(t)) if callable(v) else v, dtype=float)
        if vv.ndim < x.ndim:
            vv = vv.reshape(vv.shape + (1,) * (x.ndim - vv.ndim))
        return x, self.model.current(vv, x)

    def apply_pulse(self, x, amplitude, width, rng=None):
        return self._pin(self.model.apply_pulse(self._pin(x), amplitude, width, rng))

    # -- netlist forms ------------------------------------------------------------------------
    def behavioural_subckt(self) -> Subckt:
        return self.nominal.behavioural_subckt()

    def osdi_model(self, name: str | None = None) -> Model:
        return self.nominal.osdi_model(name)

    def osdi_path(self) -> str:
        return self.nominal.osdi_path()

    def va_path(self):
        return self.nominal.va_path()

    def cell_overrides(self, cell: Any = ()) -> tuple[float | None, dict[str, float]]:
        """(forced initial state or None, parameter overrides) of one cell."""
        if len(self.cell_shape) and (not isinstance(cell, tuple) or len(cell) != len(self.cell_shape)):
            raise ConfigError(f"a per-cell device array of shape {self.cell_shape} needs cell=(index, ...) "
                              f"for each instance, got {cell!r}")
        over = {k: float(v[cell]) for k, v in self.values_.items()}
        fault = int(self.stuck[cell])
        if fault:
            over["kx"] = 0.0
            return (self.x_on if fault > 0 else self.x_off), over
        return None, over

    def instance(self, name: str, p: str, n: str, x0: float, *, form: str = "behavioural",
                 cell: Any = (), model: str | None = None) -> Element:
        """Instance of cell ``cell`` (an index tuple of the cell shape; omit it after
        :meth:`select` of a single cell); see :meth:`ExprDevice.instance` for forms and read-back."""
        forced, over = self.cell_overrides(cell)
        return self.nominal.instance(name, p, n, x0 if forced is None else forced, form=form, overrides=over,
                                     model=model)

    def describe(self) -> dict[str, Any]:
        out = self.nominal.describe()
        out["cells"] = list(self.cell_shape)
        out["spread"] = sorted(self.values_)
        out["stuck_on"] = int(np.sum(self.stuck > 0))
        out["stuck_off"] = int(np.sum(self.stuck < 0))
        return out


def sample_devices(model: ExprDevice | DeviceArray, shape: tuple[int, ...] | int, rng: np.random.Generator,
                   spread: dict[str, float] | float | None = None, stuck_on: float = 0.0,
                   stuck_off: float = 0.0) -> DeviceArray:
    """Per-cell devices of ``model``'s family for cells of ``shape``.

    ``spread``: ``{parameter: sigma}`` (log-normal, median the nominal value, sigma the standard
    deviation of the log: about the relative spread), or one sigma for the family's
    ``d2d_params`` (the parameters that vary between devices of one wafer; see each family).
    ``stuck_on``/``stuck_off``: probabilities that a cell is stuck at its highest / lowest
    conductance (exclusive). Draws, in this order, one standard normal array per spread parameter
    (in the parameter dataclass order) and one uniform array for the faults, so the same ``rng``
    state gives the same devices.
    """
    if isinstance(model, DeviceArray):
        model = model.nominal
    if not isinstance(model, ExprDevice):
        raise ConfigError(f"device variation needs a memcircuit device family, got {type(model).__name__}")
    shape = (int(shape),) if np.isscalar(shape) else tuple(int(s) for s in shape)
    if any(s < 1 for s in shape):
        raise ConfigError(f"cell shape must be positive, got {shape}")
    if spread is None:
        spread = {}
    elif not isinstance(spread, dict):
        sigma = float(spread)
        spread = {k: sigma for k in model.d2d_params} if sigma > 0 else {}
    valid = model.number_fields()
    unknown = sorted(set(spread) - set(valid))
    if unknown:
        raise ConfigError(f"{model.family}: cannot spread {unknown}; parameters: {', '.join(valid)}")
    for k, s in spread.items():
        if not (np.isfinite(s) and s >= 0):
            raise ConfigError(f"spread of {k} must be a finite sigma >= 0, got {s}")
    if not (0 <= stuck_on <= 1 and 0 <= stuck_off <= 1 and stuck_on + stuck_off <= 1):
        raise ConfigError(f"stuck-at probabilities must be in [0, 1] with a sum <= 1 "
                          f"(got on {stuck_on}, off {stuck_off})")
    values = {}
    for f in fields(model.params):
        if f.name in spread:
            nominal = float(getattr(model.params, f.name))
            values[f.name] = nominal * np.exp(spread[f.name] * rng.standard_normal(shape))
    u = rng.random(shape)
    stuck = np.where(u < stuck_on, 1, np.where(u < stuck_on + stuck_off, -1, 0))
    return DeviceArray(model, values, stuck)
