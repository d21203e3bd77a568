"""One configuration of a tile: :class:`TileConfig`, a frozen tree with a JSON round trip.

The tree holds everything :func:`memcircuit.tiles.make_tile_from` needs besides the cell values:

* the crossbar (``rows``, ``cols``, ``cell``, wire resistance ``r_wire`` / ``r_wire_row`` /
  ``r_wire_col`` in ohm per segment, ``c_wire`` in F, the access ``transistor``);
* the periphery as the parameter classes of :mod:`memcircuit.circuits.spec` (``sense``,
  ``driver``, ``tia``, ``adc``; :meth:`~memcircuit.circuits.spec.Periphery.tile_kwargs` turns the
  flat command-line options into them);
* the device (a model name, device file or Verilog-A path with its parameter ``device_options``,
  or a :class:`~memcircuit.devices.base.DeviceModel`; None = linear cells);
* the :class:`~memcircuit.fidelity.Fidelity` and the read voltage ``v_read`` (V);
* the engine options (:class:`EngineOptions`).

:meth:`TileConfig.spec` is the one place that makes the :class:`CrossbarSpec` of a tile;
``TileConfig.from_json(c.to_json()) == c``. :class:`TileOptions` holds the flat tile fields of
``TrainConfig`` and ``InferConfig``, whose :meth:`TileOptions.tile_config` derives their tiles, the CLI
from its options (:func:`memcircuit.cli.common.tile_config_from_cli`), and the sweep jobs check
their keys against :func:`tile_option_names`. docs/DESIGN.md, "Configuration".
"""

from __future__ import annotations

import math
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from enum import Enum
from typing import Any

from memcircuit.circuits.spec import (
    PERIPHERY_FIELDS,
    AdcParams,
    CrossbarSpec,
    DriverParams,
    Periphery,
    TiaParams,
    TransistorParams,
)
from memcircuit.devices.base import DeviceModel
from memcircuit.errors import ConfigError
from memcircuit.fidelity import NGSPICE_FIDELITIES, Fidelity
from memcircuit.tiles.crossbar_tile import CrossbarTile
from memcircuit.tiles.spice import PROGRAM_FORMS, TransientProgrammer


def _count(name: str, value: Any, low: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")


def _seconds(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a finite number of seconds > 0, got {value!r}")


_NGSPICE_ONLY = ("workers", "timeout", "edge", "gap", "form")   # EngineOptions the ngspice tiles take


@dataclass(frozen=True)
class EngineOptions:
    """How a tile is computed; none of these change the circuit.

    ngspice fidelities (spice, hybrid) only, None = the engine's default: ``workers`` (ngspice
    processes that share a batch of reads), ``timeout`` (s per ngspice run), ``edge`` / ``gap``
    (pulse rise time and the pause between programming steps, s), ``form`` (``"auto"``,
    ``"osdi"`` or ``"behavioural"``: the device form of programming transients).
    Every fidelity: ``substeps`` (numeric-twin integration refinement per pulse interval),
    ``bias_refresh`` (``"interval"`` or ``"program"``: when the programming bias is solved,
    :class:`~memcircuit.tiles.crossbar_tile.CrossbarTile`; None: the fidelity's default),
    ``max_tile`` ((rows, cols) of one physical tile: a larger crossbar becomes a
    :class:`~memcircuit.tiles.tiled.TiledLayer`) and
    ``parallel_tiles`` (tiles of such a layer simulated at once; spice and hybrid).
    """

    workers: int | None = None
    timeout: float | None = None
    edge: float | None = None
    gap: float | None = None
    form: str | None = None
    substeps: int = 1
    bias_refresh: str | None = None
    max_tile: tuple[int, int] | None = None
    parallel_tiles: int = 1

    def __post_init__(self) -> None:
        if self.workers is not None:
            _count("workers", self.workers)
        for name in ("timeout", "edge", "gap"):
            if getattr(self, name) is not None:
                _seconds(name, getattr(self, name))
        if self.form is not None and self.form not in PROGRAM_FORMS:
            raise ConfigError(f"form must be one of {', '.join(PROGRAM_FORMS)}, got {self.form!r}")
        _count("substeps", self.substeps)
        if self.bias_refresh is not None and self.bias_refresh not in CrossbarTile.BIAS_REFRESH:
            raise ConfigError(f"bias_refresh must be one of {', '.join(CrossbarTile.BIAS_REFRESH)}, "
                              f"got {self.bias_refresh!r}")
        if self.max_tile is not None:
            if isinstance(self.max_tile, (str, bytes)) or len(self.max_tile) != 2:
                raise ConfigError(f"max_tile must be (rows, cols), got {self.max_tile!r}")
            for n in self.max_tile:
                _count("max_tile rows and cols", n)
            object.__setattr__(self, "max_tile", tuple(self.max_tile))
        _count("parallel_tiles", self.parallel_tiles)

    def ngspice_only(self) -> list[str]:
        """The names of the options set here that only the ngspice fidelities use."""
        return [n for n in _NGSPICE_ONLY if getattr(self, n) is not None] + \
            (["parallel_tiles"] if self.parallel_tiles > 1 else [])

    def tile_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the tile classes (the options set, without ``max_tile`` and
        ``parallel_tiles``, which belong to the layer)."""
        names = (*_NGSPICE_ONLY, "substeps", "bias_refresh")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


# the CrossbarSpec fields a TileConfig carries (all but the shape)
_SPEC_FIELDS = tuple(f.name for f in fields(CrossbarSpec) if f.name not in ("rows", "cols"))


@dataclass(frozen=True)
class TileConfig:
    """One tile, all of it (see the module doc; SI units). Validated whole on construction:
    a bad value is one :class:`ConfigError` naming the field."""

    rows: int
    cols: int
    fidelity: Fidelity = Fidelity.NUMERIC
    device: str | DeviceModel | None = None
    device_options: dict = field(default_factory=dict)
    v_read: float = 0.1
    cell: str = "1R"
    r_wire: float = 0.0
    r_wire_row: float | None = None
    r_wire_col: float | None = None
    c_wire: float = 0.0
    transistor: TransistorParams = field(default_factory=TransistorParams)
    sense: str = "ideal"
    driver: DriverParams = field(default_factory=DriverParams)
    tia: TiaParams = field(default_factory=TiaParams)
    adc: AdcParams | None = None
    engine: EngineOptions = field(default_factory=EngineOptions)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fidelity", Fidelity.parse(self.fidelity))
        for name, cls in _NESTED.items():     # parameter classes, or their JSON dicts (tile_options of a run)
            value = getattr(self, name)
            if isinstance(value, dict):
                object.__setattr__(self, name, _from_json(cls, value, name))
            elif not isinstance(value, cls) and not (name == "adc" and value is None):
                raise ConfigError(f"{name} must be {cls.__name__} or its fields as a dict, got {value!r}")
        if self.device is not None and not isinstance(self.device, (str, DeviceModel)):
            raise ConfigError(f"device must be a model name, a device file or a DeviceModel, got {self.device!r}")
        if not isinstance(self.device_options, dict):
            raise ConfigError(f"device_options must be a dict of device parameters, got {self.device_options!r}")
        if self.device_options and not isinstance(self.device, str):
            raise ConfigError("device_options need a device name (or file), got "
                              f"{'no device' if self.device is None else type(self.device).__name__}")
        if isinstance(self.v_read, bool) or not isinstance(self.v_read, (int, float)) or \
                not (math.isfinite(self.v_read) and self.v_read > 0):
            raise ConfigError(f"v_read must be a read voltage > 0 V, got {self.v_read!r}")
        self.spec()      # the crossbar and its periphery check their own numbers
        stray = [n for n in self.engine.ngspice_only() if n not in TransientProgrammer.OPTIONS]
        if stray and not self.fidelity.ngspice:
            raise ConfigError(f"{', '.join(stray)} {'applies' if len(stray) == 1 else 'apply'} to the spice and "
                              f"hybrid fidelities only (fidelity {self.fidelity})")
        transient = [n for n in TransientProgrammer.OPTIONS if getattr(self.engine, n) is not None]
        if transient and self.fidelity != Fidelity.SPICE:
            raise ConfigError(f"{', '.join(transient)} {'sets' if len(transient) == 1 else 'set'} the "
                              f"programming transient, which only the spice fidelity runs ({self.fidelity} "
                              "programs with the numeric twin)")

    # -- derived -----------------------------------------------------------------------------
    def spec(self, shape: tuple[int, int] | None = None) -> CrossbarSpec:
        """The :class:`CrossbarSpec` of this tile (of a ``shape`` (rows, cols) part of it, for
        the tiles of a :class:`~memcircuit.tiles.tiled.TiledLayer`)."""
        rows, cols = shape or (self.rows, self.cols)
        return CrossbarSpec(rows, cols, **{n: getattr(self, n) for n in _SPEC_FIELDS})

    def device_model(self) -> DeviceModel | None:
        """The device model (the registry resolves a name with its options), None for linear cells."""
        from memcircuit.tiles import resolve_device

        return resolve_device(self.device, **self.device_options)

    def with_options(self, **changes: Any) -> TileConfig:
        """A copy with ``changes`` (flat option names, :func:`tile_option_names`: engine options
        go into ``engine``), validated again."""
        return TileConfig.from_options(base=self, **changes)

    # -- construction from flat options ------------------------------------------------------
    @classmethod
    def from_options(cls, *, base: TileConfig | None = None, **options: Any) -> TileConfig:
        """From flat option names (those of :func:`tile_option_names`, as :func:`make_tile`,
        sweep jobs and ``tile_options`` use them): engine options go into ``engine``, the
        rest are fields. Unknown names are one :class:`ConfigError`."""
        unknown = set(options) - set(tile_option_names())
        if unknown:
            raise ConfigError(f"unknown tile option(s): {', '.join(sorted(unknown))}")
        engine_names = {f.name for f in fields(EngineOptions)}
        engine = {k: v for k, v in options.items() if k in engine_names}
        top = {k: v for k, v in options.items() if k not in engine_names}
        try:
            if base is None:
                return cls(engine=EngineOptions(**engine), **top)
        except TypeError as exc:     # rows or cols missing
            raise ConfigError(f"tile options: {exc}") from None
        return replace(base, engine=replace(base.engine, **engine), **top)

    # -- JSON ----------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """JSON values (nested dicts; the fidelity as its name). A device given as a model
        object has no JSON form: give its name (and ``device_options``) instead."""
        if isinstance(self.device, DeviceModel):
            raise ConfigError(f"device {self.device.name!r} is a model object; a tile configuration in JSON "
                              "names its device (device name or file, with device_options)")
        return _to_json(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TileConfig:
        """The inverse of :meth:`to_json`: :class:`ConfigError` naming an unknown or malformed key."""
        return _from_json(cls, data, "tile")


def tile_option_names() -> tuple[str, ...]:
    """The flat option names of a tile: the :class:`TileConfig` fields (the engine's own
    fields instead of ``engine``). Sweep jobs and ``tile_options`` take these names."""
    top = [f.name for f in fields(TileConfig) if f.name != "engine"]
    return (*top, *(f.name for f in fields(EngineOptions)))


def typed_options(options: dict[str, Any]) -> dict[str, Any]:
    """Flat tile options from JSON or text (sweep specs, ``--opt``-style items) with the types of
    their fields: integers, SI numbers (``"10k"``), pairs as tuples; other values as given."""
    from memcircuit.units import parse_si

    kinds = {f.name: str(f.type) for f in (*fields(TileConfig), *fields(EngineOptions))}
    out = {}
    for name, value in options.items():
        kind = kinds.get(name, "")
        if value is None or isinstance(value, bool):
            out[name] = value
        elif kind.startswith("int"):
            number = parse_si(value, name=name)
            if not float(number).is_integer():
                raise ConfigError(f"{name} must be an integer, got {value!r}")
            out[name] = int(number)
        elif kind.startswith("float"):
            out[name] = parse_si(value, name=name)
        elif isinstance(value, list):
            out[name] = tuple(value)
        else:
            out[name] = value
    return out


def _to_json(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (tuple, list)):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    return value


def _dataclass_of(hint: Any) -> type | None:
    """The dataclass in a type hint (``X`` or ``X | None``), else None."""
    for arg in (hint, *typing.get_args(hint)):
        if isinstance(arg, type) and is_dataclass(arg):
            return arg
    return None


# the fields of TileConfig that hold parameter classes
_NESTED: dict[str, type] = {name: cls for name, cls in
                            ((name, _dataclass_of(hint)) for name, hint in typing.get_type_hints(TileConfig).items())
                            if cls is not None}


def _from_json(cls: type, data: Any, where: str) -> Any:
    """Instance of the frozen dataclass ``cls`` from a JSON dict, nested dataclasses included."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a JSON object, got {data!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; valid: {', '.join(known)}")
    missing = [n for n, f in known.items() if f.default is MISSING and f.default_factory is MISSING and n not in data]
    if missing:
        raise ConfigError(f"{where}: missing key(s) {', '.join(missing)}")
    values = {}
    for name, value in data.items():
        sub = _dataclass_of(hints[name])
        if sub is not None and isinstance(value, dict):
            value = _from_json(sub, value, f"{where}.{name}")
        elif isinstance(value, list):
            value = tuple(value)
        values[name] = value
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None




@dataclass(frozen=True)
class TileOptions:
    """The tile options of a network's runs as flat fields (training, inference: their
    ``config.json``, command-line options and sweep keys use these names; SI units), from which
    :meth:`tile_config` derives the :class:`TileConfig` of every tile.

    ``tile_rows`` x ``tile_cols``: one physical tile (larger layers are split); ``periphery``: the
    flat :class:`~memcircuit.circuits.spec.Periphery` options; ``variation``: device-to-device
    spread (relative sigma); ``workers``: ngspice workers per tile; ``parallel_tiles``: tiles of a
    layer simulated at once; ``tile_options``: further :func:`tile_option_names` (``cell``,
    ``c_wire``, ``transistor``, ``substeps``, ``bias_refresh``, ``timeout``, ``form``, ...).
    """

    fidelity: str = Fidelity.NUMERIC
    device: str | None = "exp-pulse"
    device_options: dict = field(default_factory=dict)
    tile_rows: int = 64
    tile_cols: int = 64
    r_wire: float = 0.0
    r_wire_row: float | None = None
    r_wire_col: float | None = None
    periphery: Periphery = field(default_factory=Periphery)
    v_read: float = 0.1
    variation: float = 0.0
    workers: int = 1
    parallel_tiles: int = 1
    tile_options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fidelity", Fidelity.parse(self.fidelity))
        if isinstance(self.periphery, dict):
            object.__setattr__(self, "periphery", Periphery.from_options(self.periphery))
        self.periphery.require_modelled(self.fidelity)
        if isinstance(self.variation, bool) or not isinstance(self.variation, (int, float)) or \
                not (math.isfinite(self.variation) and self.variation >= 0):
            raise ConfigError(f"device variation must be >= 0, got {self.variation!r}")
        if not isinstance(self.tile_options, dict):
            raise ConfigError(f"tile_options must be a dict of tile options, got {self.tile_options!r}")
        self._adopt_own_fields()
        _count("workers", self.workers)
        own = {f.name for f in fields(TileOptions)} | {"rows", "cols", "sense", "tia", "adc", "driver"}
        clash = own & set(self.tile_options)
        if clash:
            raise ConfigError(f"tile option(s) {', '.join(sorted(clash))}: set them with their own options "
                              f"(the periphery by {', '.join(PERIPHERY_FIELDS)})")
        self.tile_config()

    def _adopt_own_fields(self) -> None:
        """Configurations written before these options were fields (a ``config.json`` of an
        earlier run) carry ``r_wire_row``, ``r_wire_col`` and ``workers`` in ``tile_options``:
        they move to their fields (where ``workers`` there replaced the default of 1), and the
        same option set twice to different values is an error."""
        moved = {k: self.tile_options[k] for k in ("r_wire_row", "r_wire_col", "workers") if k in self.tile_options}
        if not moved:
            return
        unset = {"r_wire_row": None, "r_wire_col": None, "workers": 1}
        for name, value in moved.items():
            if getattr(self, name) not in (unset[name], value):
                raise ConfigError(f"{name} is set twice, {getattr(self, name)!r} and tile_options {value!r}")
            object.__setattr__(self, name, value)
        object.__setattr__(self, "tile_options", {k: v for k, v in self.tile_options.items() if k not in moved})

    def to_json(self) -> dict[str, Any]:
        """The options as JSON values (the fidelity as its name, the periphery and parameter
        objects in ``tile_options`` as their fields)."""
        return _to_json(self)

    def tile_config(self, rows: int | None = None, cols: int | None = None) -> TileConfig:
        """The :class:`TileConfig` of a ``rows`` x ``cols`` tile (default: one physical tile).
        At ``numeric`` and ``hybrid`` the programming bias of a whole pulse program is solved in
        batched solves (one ngspice sweep at hybrid; ``bias_refresh="program"``,
        docs/BENCHMARKS.md) unless ``tile_options`` says otherwise."""
        options = {"bias_refresh": "program"} if self.fidelity in (Fidelity.NUMERIC, Fidelity.HYBRID) else {}
        options.update(typed_options(self.tile_options))     # sweep values may be SI strings ("1f")
        if self.fidelity.ngspice and self.workers > 1:
            options["workers"] = self.workers
        return TileConfig.from_options(
            rows=self.tile_rows if rows is None else rows, cols=self.tile_cols if cols is None else cols,
            fidelity=self.fidelity, device=self.device, device_options=self.device_options, v_read=self.v_read,
            r_wire=self.r_wire, r_wire_row=self.r_wire_row, r_wire_col=self.r_wire_col,
            parallel_tiles=self.parallel_tiles, **self.periphery.tile_kwargs(), **options)


__all__ = ["NGSPICE_FIDELITIES", "EngineOptions", "Fidelity", "TileConfig", "TileOptions", "tile_option_names",
           "typed_options"]
