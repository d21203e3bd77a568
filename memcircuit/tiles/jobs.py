"""The ``tile`` job kind of ``memcircuit sweep``: read accuracy and speed of one tile, as a flat dict.

A tile (:func:`memcircuit.tiles.make_tile`) of seeded random cells is read forward and backward
with a seeded random batch of inputs; its currents are compared with the ``ideal`` fidelity's
reads of the same cells (``G^T V`` for linear cells, device currents at the line voltages for
memristor cells), so the errors are what the wires and the periphery of the chosen fidelity add.

``params`` (JSON-able, SI units; numbers may carry SI prefixes):

* ``rows``/``cols`` (8, 8), ``fidelity`` (``"numeric"``), ``r_wire`` (ohm per segment, 0;
  ``r_wire_row`` / ``r_wire_col`` for the word / bit lines alone),
  ``cell`` (``"1R"``/``"1T1R"``), ``v_read`` (V, 0.1): inputs are uniform in +-v_read;
* the periphery by the names of :class:`~memcircuit.circuits.spec.Periphery` (``sense``, ``r_f``,
  ``opamp_gain``, ``adc_bits``, ``input_bits`` (a DAC over +-v_read), ...), as on the command line;
* ``device``: none (default: linear resistors, conductances uniform in ``g_min`` .. ``g_max`` S,
  default 1e-6 .. 1e-4) or a model name / ``{"name": ...}`` with ``device.<param>`` overrides as in
  the ``device`` job (:func:`memcircuit.devices.jobs.device_from_params`); memristor states are
  uniform over the device's state range. ``variation`` (or ``device.spread``): device-to-device
  spread (relative sigma, :func:`memcircuit.devices.sample_devices`);
* ``seed`` (0): cells, inputs and device variation; ``batch`` (16): inputs per direction;
* ``spice``/``hybrid`` only: ``workers`` (ngspice workers per tile), ``timeout`` (s per run);
* any other flat tile option of :func:`memcircuit.tiles.config.tile_option_names` (``c_wire``,
  ``substeps``, ``bias_refresh``, ``form``, ...): the keys are those of
  :class:`~memcircuit.tiles.config.TileConfig`.

Metrics: ``max_rel_error`` / ``max_rel_error_t`` (forward / backward, ``max|I - I_ideal| /
max|I_ideal|``), ``max_rel_error_gv`` (forward against ``V @ G`` with ``G`` the chord conductances
at ``v_read``: for memristor cells this adds the device's I-V nonlinearity), ``i_max`` (A, largest
forward current), ``seconds_read`` / ``seconds_read_t`` (wall time of the batch reads at the
chosen fidelity, ngspice worker start included).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from memcircuit.circuits.spec import PERIPHERY_FIELDS, Periphery
from memcircuit.errors import ConfigError
from memcircuit.fidelity import Fidelity
from memcircuit.tiles.config import TileConfig, tile_option_names, typed_options

# tile options a job names directly (the periphery by its flat names, the device by device.<param>)
_TILE_KEYS = {n for n in tile_option_names() if n not in ("device", "device_options", "transistor", "driver",
                                                          "tia", "adc")}
_KEYS = {*_TILE_KEYS, "g_min", "g_max", "variation", "seed", "batch", *PERIPHERY_FIELDS}
_JOB_DEFAULTS = {"rows": 8, "cols": 8}


def _rel(value: np.ndarray, reference: np.ndarray) -> float:
    """``max|value - reference| / max|reference|`` (0 when both are all zero)."""
    scale = float(np.max(np.abs(reference)))
    diff = float(np.max(np.abs(value - reference)))
    return diff / scale if scale > 0 else diff


def _settings(params: dict[str, Any]) -> dict[str, Any]:
    """The checked settings of a tile job (see the module doc): its :class:`TileConfig` and the
    job's own values; :class:`ConfigError` naming the first unknown key or malformed value, or a
    tile too large for this machine's memory."""
    from memcircuit.devices.jobs import device_from_params, number
    from memcircuit.resources import check_memory, crossbar_bytes

    p = dict(params)
    device = spread = None
    if p.get("device") not in (None, "none") or any(k.startswith("device.") for k in p):
        _, device, spread = device_from_params(p)
    p.pop("device", None)
    unknown = set(p) - _KEYS
    if unknown:
        raise ConfigError(f"unknown tile job parameter(s): {', '.join(sorted(unknown))}; valid: device, "
                          f"device.<param>, {', '.join(sorted(_KEYS))}")
    counts = {key: number(p, key, default) for key, default in (("batch", 16), ("seed", 0))}
    for key, value in counts.items():
        if value != int(value) or value < (0 if key == "seed" else 1):
            raise ConfigError(f"tile job parameter {key} must be an integer >= {0 if key == 'seed' else 1}, "
                              f"got {p[key]!r}")
    periphery = Periphery.from_options({k: p[k] for k in PERIPHERY_FIELDS if k in p})
    v_read = number(p, "v_read", 0.1)
    options = typed_options({**_JOB_DEFAULTS, **{k: p[k] for k in _TILE_KEYS - set(PERIPHERY_FIELDS) if k in p}})
    config = TileConfig.from_options(**{**options, "v_read": v_read, "device": device,
                                        **periphery.tile_kwargs(dac_full_scale=v_read)})
    periphery.require_modelled(config.fidelity)
    engines = (config.engine.workers or 1) if config.fidelity.ngspice else 0
    check_memory(crossbar_bytes(config.rows, config.cols, cell=config.cell, engines=engines),
                 f"a {config.rows} x {config.cols} tile")
    variation = number(p, "variation", spread or 0.0)
    g_range = (number(p, "g_min", 1e-6), number(p, "g_max", 1e-4))
    if device is None and variation:
        raise ConfigError("device variation needs a device model (linear cells have none)")
    if device is None and not 0 < g_range[0] <= g_range[1]:
        raise ConfigError(f"need 0 < g_min <= g_max, got {g_range[0]}, {g_range[1]} S")
    return {"config": config, "batch": int(counts["batch"]), "seed": int(counts["seed"]), "variation": variation,
            "g_range": g_range}


def check_job(params: dict[str, Any]) -> None:
    """Validate a ``tile`` job's parameters without building the tile (:class:`ConfigError`)."""
    _settings(params)


def tile_job(params: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Build a tile, read seeded random inputs both ways, compare with ``ideal`` (see the module
    doc); returns flat metrics. ``workdir``: the job's scratch directory (unused)."""
    from memcircuit.tiles import make_tile_from

    s = _settings(params)
    config, batch, seed, variation = (s[k] for k in ("config", "batch", "seed", "variation"))
    rows, cols, device, v_read = config.rows, config.cols, config.device, config.v_read
    rng = np.random.default_rng(seed)
    cells: dict[str, Any] = {}
    if device is None:
        cells["g"] = rng.uniform(*s["g_range"], (rows, cols))
    else:
        cells["states"] = rng.uniform(device.x_min, device.x_max, (rows, cols))
        if variation:
            from memcircuit.devices import sample_devices

            config = replace(config, device=sample_devices(device, (rows, cols), np.random.default_rng([seed, 5]),
                                                           spread=variation))
    v = rng.uniform(-v_read, v_read, (batch, rows))
    e = rng.uniform(-v_read, v_read, (batch, cols))
    # the reference: the same cells and wires at ideal, without periphery or engine options
    ideal = TileConfig(rows, cols, Fidelity.IDEAL, device=config.device, v_read=v_read, cell=config.cell,
                       r_wire=config.r_wire, r_wire_row=config.r_wire_row, r_wire_col=config.r_wire_col)
    with make_tile_from(ideal, seed=seed, **cells) as reference:
        ref, ref_t, g = reference.read(v), reference.read_t(e), reference.conductances()
    with make_tile_from(config, seed=seed, **cells) as tile:
        t0 = time.perf_counter()
        out = tile.read(v)
        t1 = time.perf_counter()
        out_t = tile.read_t(e)
        t2 = time.perf_counter()
    return {"fidelity": str(config.fidelity), "rows": rows, "cols": cols, "max_rel_error": _rel(out, ref),
            "max_rel_error_t": _rel(out_t, ref_t), "max_rel_error_gv": _rel(out, v @ g),
            "i_max": float(np.max(np.abs(out))), "seconds_read": t1 - t0, "seconds_read_t": t2 - t1}
