"""Crossbar tiles at four fidelities behind one interface (:class:`~memcircuit.tiles.base.Tile`).

Quick use::

    from memcircuit.tiles import make_tile
    tile = make_tile("numeric", 32, 32, g=G, r_wire=2.0)      # G: (32, 32) siemens
    I = tile.read(V)          # V: (batch, 32) volts -> (batch, 32) amperes into the column ends
    E = tile.read_t(D)        # backward: columns driven, rows sensed
    tile.set_conductances(G2) # initialise weights (write-verify for memristor cells)

``fidelity``: ``"ideal"`` (G^T V), ``"numeric"`` (own nodal solver), ``"hybrid"`` (ngspice
reads, numeric-twin programming), ``"spice"`` (everything in ngspice). See docs/DESIGN.md.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from memcircuit.circuits.spec import AdcParams, CrossbarSpec, DriverParams, TiaParams, TransistorParams
from memcircuit.devices.base import DeviceModel
from memcircuit.devices.variation import DeviceArray
from memcircuit.errors import ConfigError
from memcircuit.tiles.base import FIDELITIES, ProgramReport, PulseProgram, PulseStep, Tile
from memcircuit.tiles.crossbar_tile import CrossbarTile
from memcircuit.tiles.ideal import IdealTile
from memcircuit.tiles.numeric import NumericTile
from memcircuit.tiles.programming import half_select_program
from memcircuit.tiles.spice import HybridTile, SpiceTile, TransientProgrammer
from memcircuit.tiles.tiled import TiledLayer, TilePool, check_parallel_tiles

TILE_CLASSES: dict[str, type[CrossbarTile]] = {
    "ideal": IdealTile, "numeric": NumericTile, "hybrid": HybridTile, "spice": SpiceTile,
}
_SPEC_FIELDS = {f.name for f in fields(CrossbarSpec)} - {"rows", "cols", "r_wire", "sense"}
_SPICE_ONLY = {"workers", "timeout", "edge", "gap", "form"}
_TILE_KW = {"substeps", "bias_refresh"}


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


def check_tile_options(fidelity: str, kw: dict, parallel_tiles: int = 1) -> None:
    """:class:`ConfigError` for an unknown fidelity or option name, or a spice-only option at
    another fidelity (the checks :func:`make_tile` runs before it builds anything)."""
    if fidelity not in FIDELITIES:
        raise ConfigError(f"fidelity must be one of {', '.join(FIDELITIES)}, got {fidelity!r}")
    unknown = set(kw) - _SPEC_FIELDS - _SPICE_ONLY - _TILE_KW
    if unknown:
        raise ConfigError(f"unknown tile option(s): {', '.join(sorted(unknown))}")
    spice_kw = set(kw) & _SPICE_ONLY
    if spice_kw and fidelity not in ("spice", "hybrid"):
        raise ConfigError(f"{', '.join(sorted(spice_kw))} apply to the spice and hybrid fidelities only")
    transient_kw = set(kw) & set(TransientProgrammer.OPTIONS)
    if transient_kw and fidelity != "spice":
        raise ConfigError(f"{', '.join(sorted(transient_kw))} set the programming transient of the spice fidelity; "
                          f"{fidelity} programs with the numeric twin")
    if check_parallel_tiles(parallel_tiles) > 1 and fidelity not in ("spice", "hybrid"):
        raise ConfigError("parallel_tiles applies to the spice and hybrid fidelities only")


def make_tile(fidelity: str, rows: int, cols: int, device: str | DeviceModel | None = None,
              g: np.ndarray | None = None, r_wire: float = 0.0, sense: str = "ideal", *,
              states: np.ndarray | None = None, v_read: float = 0.1, seed: int | None = 0,
              rng: np.random.Generator | None = None, max_tile: tuple[int, int] | None = None,
              parallel_tiles: int = 1, **kw) -> Tile:
    """A tile (or a :class:`TiledLayer` when larger than ``max_tile``) at ``fidelity``.

    ``device``: memristor model (name or instance); None = linear resistors of conductance ``g``
    (S, rows x cols). With a device, ``g`` (if given) sets the initial conductances, else
    ``states`` the initial states. ``r_wire``: ohm per wire segment (rows and columns);
    ``r_wire_row`` / ``r_wire_col`` set the word-line / bit-line segments alone; ``sense``:
    ``"ideal"`` or ``"tia"``. Further keywords: ``cell`` ("1R"/"1T1R"), ``c_wire`` (F), ``driver``
    (:class:`DriverParams`), ``tia`` (:class:`TiaParams`), ``adc`` (:class:`AdcParams`),
    ``transistor`` (:class:`TransistorParams`), ``substeps`` (numeric-twin programming
    refinement) and ``bias_refresh`` (``"interval"`` or ``"program"``, see
    :class:`CrossbarTile`), and for ``spice``/``hybrid``: ``workers``
    (parallel ngspice processes for reads), ``timeout`` (s), ``edge``/``gap`` (pulse timing, s),
    ``form`` (``"auto"``, ``"osdi"`` or ``"behavioural"``: the device form of the programming
    transient, auto = the compiled Verilog-A when OpenVAF is installed; reads always use the
    behavioural I-V with the state held).
    ``seed``/``rng`` drive the programming noise of the device model; the tiles of a
    :class:`TiledLayer` each draw from their own child generator (``rng.spawn``, in grid order),
    so a tile's noise depends neither on the other tiles nor on the order in which they run.
    ``parallel_tiles`` (``spice``/``hybrid``): threads that read and program the tiles of a
    :class:`TiledLayer` concurrently (1 = one after another; the same numbers either way).
    """
    check_tile_options(fidelity, kw, parallel_tiles)
    spice_kw = {k: kw.pop(k) for k in list(kw) if k in _SPICE_ONLY}
    tile_kw = {k: kw.pop(k) for k in list(kw) if k in _TILE_KW}
    model = resolve_device(device)
    if fidelity != "spice" and model is not None and model.va_only:
        raise ConfigError(f"fidelity {fidelity}: {model.needs_twin()}")
    if isinstance(model, DeviceArray) and model.cell_shape != (rows, cols):
        raise ConfigError(f"the device array holds {model.cell_shape} cells; the tile has ({rows}, {cols})")
    rng = rng if rng is not None else np.random.default_rng(seed)
    cls = TILE_CLASSES[fidelity]
    tiled = max_tile is not None and (rows > max_tile[0] or cols > max_tile[1])

    def build(r: int, c: int, rs: slice, cs: slice) -> Tile:
        spec = CrossbarSpec(r, c, r_wire=r_wire, sense=sense, **kw)
        # per-cell devices (variation, faults) of a layer: each tile takes its own cells
        cells = model.select((rs, cs)) if tiled and isinstance(model, DeviceArray) else model
        return cls(spec, device=cells, g=None if g is None else np.asarray(g, dtype=float)[rs, cs],
                   states=None if states is None else np.asarray(states, dtype=float)[rs, cs],
                   v_read=v_read, rng=rng.spawn(1)[0] if tiled else rng, **tile_kw, **spice_kw)

    for name, arr in (("g", g), ("states", states)):
        if arr is not None and np.shape(arr) != (rows, cols):
            raise ConfigError(f"{name} must have shape ({rows}, {cols}), got {np.shape(arr)}")
    if tiled:
        return TiledLayer(rows, cols, max_tile[0], max_tile[1], build, parallel_tiles=parallel_tiles)
    return build(rows, cols, slice(0, rows), slice(0, cols))


__all__ = ["FIDELITIES", "AdcParams", "CrossbarSpec", "CrossbarTile", "DriverParams", "HybridTile", "IdealTile",
           "NumericTile", "ProgramReport", "PulseProgram", "PulseStep", "SpiceTile", "TiaParams", "Tile",
           "TilePool", "TiledLayer", "TransistorParams", "check_tile_options", "half_select_program", "make_tile",
           "resolve_device"]
