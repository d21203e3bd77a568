"""Crossbar tiles at four fidelities behind one interface (:class:`~memcircuit.tiles.base.Tile`).

Quick use::

    from memcircuit.tiles import make_tile
    tile = make_tile("numeric", 32, 32, g=G, r_wire=2.0)      # G: (32, 32) siemens
    I = tile.read(V)          # V: (batch, 32) volts -> (batch, 32) amperes into the column ends
    E = tile.read_t(D)        # backward: columns driven, rows sensed
    tile.set_conductances(G2) # initialise weights (write-verify for memristor cells)

``fidelity``: ``"ideal"`` (G^T V), ``"numeric"`` (own nodal solver), ``"hybrid"`` (ngspice
reads, numeric-twin programming), ``"spice"`` (everything in ngspice). See docs/DESIGN.md.
A whole tile is one :class:`TileConfig` (JSON round trip); ``make_tile_from(config, g=G)``
builds it, ``make_tile`` is the keyword form of the same.
"""

from __future__ import annotations

import numpy as np

from memcircuit.circuits.spec import AdcParams, CrossbarSpec, DriverParams, TiaParams, TransistorParams
from memcircuit.devices.base import DeviceModel
from memcircuit.devices.variation import DeviceArray
from memcircuit.errors import ConfigError
from memcircuit.fidelity import FIDELITIES, Fidelity
from memcircuit.tiles.base import ProgramReport, PulseProgram, PulseStep, Tile
from memcircuit.tiles.config import EngineOptions, TileConfig, tile_option_names
from memcircuit.tiles.crossbar_tile import CrossbarTile
from memcircuit.tiles.ideal import IdealTile
from memcircuit.tiles.numeric import NumericTile
from memcircuit.tiles.programming import half_select_program
from memcircuit.tiles.spice import HybridTile, SpiceTile
from memcircuit.tiles.tiled import TiledLayer, TilePool

#: each fidelity's (solver, programmer) pair, by the class that declares it
TILE_CLASSES: dict[Fidelity, type[CrossbarTile]] = {cls.fidelity: cls for cls in (SpiceTile, HybridTile, NumericTile,
                                                                                  IdealTile)}


def resolve_device(device: str | DeviceModel | None, **options) -> DeviceModel | None:
    """A device model from a registry name (``memcircuit.devices.get_device``, with parameter
    ``options``) or as given."""
    if (device is None or isinstance(device, DeviceModel)) and not options:
        return device
    if not isinstance(device, str):
        raise ConfigError(f"device parameters need a model name, got {device!r}" if options else
                          f"device must be a model name or a DeviceModel, got {device!r}")
    from memcircuit.devices import get_device

    return get_device(device, **options)


def make_tile_from(config: TileConfig, *, g: np.ndarray | None = None, states: np.ndarray | None = None,
                   seed: int | None = 0, rng: np.random.Generator | None = None) -> Tile:
    """The tile of ``config`` (a :class:`TiledLayer` when larger than ``config.engine.max_tile``).

    Cells: linear resistors of conductance ``g`` (S, rows x cols) without a device; with one,
    ``g`` (if given) sets the initial conductances, else ``states`` the initial states.
    ``seed``/``rng`` drive the programming noise of the device model; the tiles of a
    :class:`TiledLayer` each draw from their own child generator (``rng.spawn``, in grid order),
    so a tile's noise depends neither on the other tiles nor on the order in which they run.
    """
    rows, cols, fidelity = config.rows, config.cols, config.fidelity
    model = config.device_model()
    if fidelity != Fidelity.SPICE and model is not None and model.va_only:
        raise ConfigError(f"fidelity {fidelity}: {model.needs_twin()}")
    if isinstance(model, DeviceArray) and model.cell_shape != (rows, cols):
        raise ConfigError(f"the device array holds {model.cell_shape} cells; the tile has ({rows}, {cols})")
    for name, arr in (("g", g), ("states", states)):
        if arr is not None and np.shape(arr) != (rows, cols):
            raise ConfigError(f"{name} must have shape ({rows}, {cols}), got {np.shape(arr)}")
    rng = rng if rng is not None else np.random.default_rng(seed)
    cls = TILE_CLASSES[fidelity]
    max_tile = config.engine.max_tile
    tiled = max_tile is not None and (rows > max_tile[0] or cols > max_tile[1])
    tile_kw = config.engine.tile_kwargs()

    def build(r: int, c: int, rs: slice, cs: slice) -> Tile:
        # per-cell devices (variation, faults) of a layer: each tile takes its own cells
        cells = model.select((rs, cs)) if tiled and isinstance(model, DeviceArray) else model
        return cls(config.spec((r, c)), device=cells, g=None if g is None else np.asarray(g, dtype=float)[rs, cs],
                   states=None if states is None else np.asarray(states, dtype=float)[rs, cs],
                   v_read=config.v_read, rng=rng.spawn(1)[0] if tiled else rng, **tile_kw)

    if tiled:
        return TiledLayer(rows, cols, max_tile[0], max_tile[1], build, parallel_tiles=config.engine.parallel_tiles)
    return build(rows, cols, slice(0, rows), slice(0, cols))


def make_tile(fidelity: str, rows: int, cols: int, device: str | DeviceModel | None = None,
              g: np.ndarray | None = None, r_wire: float = 0.0, sense: str = "ideal", *,
              states: np.ndarray | None = None, v_read: float = 0.1, seed: int | None = 0,
              rng: np.random.Generator | None = None, **options) -> Tile:
    """A tile at ``fidelity`` from keywords: :func:`make_tile_from` of
    ``TileConfig.from_options(fidelity=..., rows=..., cols=..., device=..., r_wire=..., sense=...,
    v_read=..., **options)``.

    ``device``: memristor model (name or instance); None = linear resistors of conductance ``g``
    (S). ``r_wire``: ohm per wire segment (rows and columns); ``r_wire_row`` / ``r_wire_col`` set
    the word-line / bit-line segments alone; ``sense``: ``"ideal"`` or ``"tia"``. ``options``: the
    other :class:`TileConfig` fields (``cell``, ``c_wire``, ``driver``, ``tia``, ``adc``,
    ``transistor``, ``device_options``) and the :class:`EngineOptions` by name (``workers``,
    ``timeout``, ``edge``, ``gap``, ``form``, ``substeps``, ``bias_refresh``, ``max_tile``,
    ``parallel_tiles``).
    """
    config = TileConfig.from_options(fidelity=fidelity, rows=rows, cols=cols, device=device, r_wire=r_wire,
                                     sense=sense, v_read=v_read, **options)
    return make_tile_from(config, g=g, states=states, seed=seed, rng=rng)


__all__ = ["FIDELITIES", "AdcParams", "CrossbarSpec", "CrossbarTile", "DriverParams", "EngineOptions", "Fidelity",
           "HybridTile", "IdealTile", "NumericTile", "ProgramReport", "PulseProgram", "PulseStep", "SpiceTile",
           "TiaParams", "Tile", "TileConfig", "TilePool", "TiledLayer", "TransistorParams", "half_select_program",
           "make_tile", "make_tile_from", "resolve_device", "tile_option_names"]
