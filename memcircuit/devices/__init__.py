"""Memristor device models: one physics in three forms (Verilog-A, behavioural SPICE, numpy).

Quick use::

    from memcircuit.devices import get_device, sample_devices
    dev = get_device("exp-pulse", a_ltp=0.3)          # family or preset name, parameter overrides
    x = dev.apply_pulse(np.full(8, 0.2), 1.0, 100e-9)  # numeric twin, vectorised
    sub = dev.behavioural_subckt()                      # ngspice subcircuit (B sources + state C)
    cells = sample_devices(dev, (4, 4), np.random.default_rng(0), spread={"g_max": 0.1}, stuck_on=0.01)

Families (:data:`DEVICES`): ``linear-drift`` (Strukov 2008; Joglekar/Biolek/Prodromakis windows),
``vteam`` (Kvatinsky 2015; linear/exponential R), ``yakopcic`` (2011), ``pershin`` (Pershin-Di
Ventra threshold model), ``exp-pulse`` (NeuroSim soft bounds), ``discrete`` (N levels),
``lr-cell`` (learning-rate cell, paper 1). :data:`PRESETS` holds published parameter sets.
See docs/DEVICES.md for the equations and sources.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from memcircuit.devices.base import DeviceModel, DeviceParams
from memcircuit.devices.discrete import PRESETS as _P_DISCRETE
from memcircuit.devices.discrete import Discrete
from memcircuit.devices.exp_pulse import PRESETS as _P_EXP
from memcircuit.devices.exp_pulse import ExpPulse
from memcircuit.devices.linear_drift import PRESETS as _P_DRIFT
from memcircuit.devices.linear_drift import LinearDrift
from memcircuit.devices.lr_cell import PRESETS as _P_LR
from memcircuit.devices.lr_cell import LrCell
from memcircuit.devices.model import FORMS, ExprDevice, Preset, canonical_form
from memcircuit.devices.pershin import PRESETS as _P_PERSHIN
from memcircuit.devices.pershin import Pershin
from memcircuit.devices.pulse import PulseDevice
from memcircuit.devices.tabulated import FAMILY as TABULATED
from memcircuit.devices.tabulated import TabulatedDevice
from memcircuit.devices.vamodel import VaDevice, is_va_path, va_device
from memcircuit.devices.variation import DeviceArray, sample_devices
from memcircuit.devices.vteam import PRESETS as _P_VTEAM
from memcircuit.devices.vteam import Vteam
from memcircuit.devices.yakopcic import PRESETS as _P_YAK
from memcircuit.devices.yakopcic import Yakopcic
from memcircuit.errors import ConfigError
from memcircuit.units import parse_si

#: registry name -> family class
DEVICES: dict[str, type[ExprDevice]] = {
    cls.name: cls for cls in (LinearDrift, Vteam, Yakopcic, Pershin, ExpPulse, Discrete, LrCell)
}
#: preset name -> published parameter set (family, values, source)
PRESETS: dict[str, Preset] = {**_P_DRIFT, **_P_VTEAM, **_P_YAK, **_P_PERSHIN, **_P_EXP, **_P_DISCRETE, **_P_LR}

#: initial state the presets' sources start from (instances default to it where given)
PRESET_X0: dict[str, float] = {"yakopcic-2011": 0.11, "pershin-ngspice": 2.0 / 3.0}


def _key(name: str) -> str:
    return str(name).strip().lower().replace("_", "-")


def _convert(cls: type[ExprDevice], name: str, value: Any) -> Any:
    kinds = {f.name: f.type for f in fields(cls.params_class)}
    if name not in kinds:
        raise ConfigError(f"{cls.name}: no parameter {name!r}; valid parameters: {', '.join(kinds)}")
    if kinds[name] in ("str", str):
        return str(value)
    try:
        return parse_si(value, name=f"{cls.name}.{name}")
    except ConfigError:
        raise
    except (TypeError, ValueError):
        raise ConfigError(f"{cls.name}.{name}: {value!r} is not a number") from None


def get_device(name: str, **overrides: Any) -> ExprDevice:
    """A device by family or preset name (``-``/``_`` and case do not matter), a device file
    written by :func:`save_device` (a path ending in ``.json``) or a Verilog-A model (a path
    ending in ``.va``: :class:`~memcircuit.devices.vamodel.VaDevice`, whose overrides are module
    parameters and the options ``module``, ``state_node``, ``state_param``, ``state_min``,
    ``state_max``), with parameter overrides (numbers, or strings with SI prefixes such as ``"10k"``).

    Raises :class:`ConfigError` naming the valid names or parameters."""
    if str(name).lower().endswith(".json"):
        return load_device(name, **overrides)
    if is_va_path(name):
        return va_device(name, **overrides)
    key = _key(name)
    if key in DEVICES:
        cls, values = DEVICES[key], {}
    elif key in PRESETS:
        preset = PRESETS[key]
        cls, values = DEVICES[preset.family], dict(preset.values)
    else:
        raise ConfigError(f"unknown device {name!r}; families: {', '.join(DEVICES)}; presets: {', '.join(PRESETS)}")
    for k, v in overrides.items():
        values[k] = _convert(cls, k, v)
    try:
        params = cls.params_class(**values)
    except TypeError as exc:  # pragma: no cover - _convert checks names first
        raise ConfigError(f"{cls.name}: {exc}") from None
    return cls(params)


DEVICE_FILE_FORMAT = "memcircuit-device/1"


def save_device(device: ExprDevice | TabulatedDevice, path: str | Path, *, source: str = "",
                extra: dict[str, Any] | None = None) -> Path:
    """Write a device as JSON: its family, every parameter (SI units), where it came from
    (``source``) and anything else worth keeping (``extra``, e.g. a fit's quality).
    :func:`load_device` and :func:`get_device` read it back."""
    if getattr(device, "cell_shape", None) is not None:
        raise ConfigError("a per-cell device array cannot be saved as one device; save the nominal model")
    if isinstance(device, TabulatedDevice):
        data = {"format": DEVICE_FILE_FORMAT, **device.to_json(), "source": source, **(extra or {})}
    else:
        params = {f.name: getattr(device.params, f.name) for f in fields(device.params)}
        data = {"format": DEVICE_FILE_FORMAT, "family": device.name,
                "params": {k: v if isinstance(v, str) else float(v) for k, v in params.items()},
                "source": source, **(extra or {})}
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(json.dumps(_plain(data), indent=2, allow_nan=False) + "\n")
    tmp.replace(target)   # readers see the old file or the whole new one
    return target


def _plain(obj: Any) -> Any:
    """``obj`` as plain JSON values: numpy numbers and arrays as numbers and lists, non-finite
    numbers as null, anything else unknown as its text."""
    import math

    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_plain(v) for v in (obj.tolist() if isinstance(obj, np.ndarray) else obj)]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj if obj is None or isinstance(obj, str) else str(obj)


def load_device(path: str | Path, **overrides: Any) -> ExprDevice | TabulatedDevice:
    """The device in a file written by :func:`save_device`, with parameter overrides."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"device file not found: {p}")
    try:
        data = json.loads(p.read_text())
        family, params = data["family"], dict(data["params"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p} is not a memcircuit device file ({type(exc).__name__}: {exc})") from None
    if data.get("format") == DEVICE_FILE_FORMAT and family == TABULATED:
        if overrides:
            raise ConfigError(f"{p}: a tabulated device takes no parameter overrides (got {', '.join(overrides)}); "
                              "characterize the model again with those parameters")
        return TabulatedDevice.from_json(data, str(p))
    if data.get("format") != DEVICE_FILE_FORMAT or _key(family) not in DEVICES:
        raise ConfigError(f"{p} is not a memcircuit device file (format {data.get('format')!r}, "
                          f"family {family!r})")
    return get_device(family, **{**params, **overrides})


def user_device_dir() -> Path:
    """Where ``memcircuit models characterize`` saves twins by default and ``models list`` looks:
    ``$MEMCIRCUIT_DEVICES``, else ``~/.local/share/memcircuit/devices``."""
    import os

    root = os.environ.get("MEMCIRCUIT_DEVICES")
    return Path(root) if root else Path.home() / ".local" / "share" / "memcircuit" / "devices"


def cached_twin(device: VaDevice, *, v_read: float = 0.1) -> tuple[TabulatedDevice, Path, bool]:
    """The numeric twin of a Verilog-A device, for what needs one (training's pulse calibration and
    its numeric-twin fidelities): characterized once with the defaults of ``models characterize``
    and kept in ``<user device dir>/auto/``, named by the source's SHA-256 and the device's
    options, so later runs load it. Returns (twin, file, whether it was built now). At ``spice``
    the twin runs the Verilog-A source again."""
    import hashlib

    from memcircuit.devices.tabulated import characterize, file_digest

    opts = {k: v for k, v in device.options().items() if k != "path"}
    key = hashlib.sha256(json.dumps([file_digest(device.path), opts, v_read], sort_keys=True,
                                    default=str).encode()).hexdigest()[:16]
    path = user_device_dir() / "auto" / f"{device.path.stem}-{key}.json"
    if path.is_file():
        loaded = load_device(path)
        if isinstance(loaded, TabulatedDevice):
            return loaded, path, False
    twin = characterize(device, v_read=v_read)
    save_device(twin, path, source=f"characterized from {device.path} for training (automatic twin)")
    return twin, path, True


def user_devices() -> list[dict[str, Any]]:
    """The device files in :func:`user_device_dir`: path, family, source and the twin's accuracy."""
    out = []
    folder = user_device_dir()
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            continue
        if not isinstance(data, dict) or data.get("format") != DEVICE_FILE_FORMAT:
            continue
        info = data.get("info") or {}
        out.append({"path": str(path), "family": data.get("family"), "source": data.get("source", ""),
                    "max_error_of_range": (info.get("accuracy") or {}).get("max_error_of_range")})
    return out


def default_x0(name: str) -> float | None:
    """The initial state a preset's source starts from, if it gives one."""
    return PRESET_X0.get(_key(name))


__all__ = ["DEVICES", "FORMS", "PRESETS", "DeviceArray", "DeviceModel", "DeviceParams", "ExprDevice", "Preset",
           "PulseDevice", "TabulatedDevice", "VaDevice", "canonical_form", "default_x0", "get_device", "load_device",
           "sample_devices", "save_device", "user_device_dir", "user_devices"]
