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
* ``spice``/``hybrid`` only: ``workers`` (ngspice workers per tile), ``timeout`` (s per run).

Metrics: ``max_rel_error`` / ``max_rel_error_t`` (forward / backward, ``max|I - I_ideal| /
max|I_ideal|``), ``max_rel_error_gv`` (forward against ``V @ G`` with ``G`` the chord conductances
at ``v_read``: for memristor cells this adds the device's I-V nonlinearity), ``i_max`` (A, largest
forward current), ``seconds_read`` / ``seconds_read_t`` (wall time of the batch reads at the
chosen fidelity, ngspice worker start included).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from memcircuit.circuits.spec import PERIPHERY_FIELDS, Periphery
from memcircuit.errors import ConfigError

_KEYS = {"rows", "cols", "fidelity", "r_wire", "r_wire_row", "r_wire_col", "cell", "v_read", "g_min",
         "g_max", "variation", "seed", "batch", "workers", "timeout", *PERIPHERY_FIELDS}


def _rel(value: np.ndarray, reference: np.ndarray) -> float:
    """``max|value - reference| / max|reference|`` (0 when both are all zero)."""
    scale = float(np.max(np.abs(reference)))
    diff = float(np.max(np.abs(value - reference)))
    return diff / scale if scale > 0 else diff


def _settings(params: dict[str, Any]) -> dict[str, Any]:
    """The checked settings of a tile job (see the module doc); :class:`ConfigError` naming the
    first unknown key or malformed value, or a tile too large for this machine's memory."""
    from memcircuit.devices.jobs import device_from_params, number
    from memcircuit.resources import check_memory, crossbar_bytes
    from memcircuit.tiles import check_tile_options

    p = dict(params)
    device = spread = None
    if p.get("device") not in (None, "none") or any(k.startswith("device.") for k in p):
        _, device, spread = device_from_params(p)
    p.pop("device", None)
    unknown = set(p) - _KEYS
    if unknown:
        raise ConfigError(f"unknown tile job parameter(s): {', '.join(sorted(unknown))}; valid: device, "
                          f"device.<param>, {', '.join(sorted(_KEYS))}")
    counts = {key: number(p, key, default) for key, default in (("rows", 8), ("cols", 8), ("batch", 16), ("seed", 0))}
    for key, value in counts.items():
        if value != int(value) or value < (0 if key == "seed" else 1):
            raise ConfigError(f"tile job parameter {key} must be an integer >= {0 if key == 'seed' else 1}, "
                              f"got {p[key]!r}")
    rows, cols, batch, seed = (int(counts[k]) for k in ("rows", "cols", "batch", "seed"))
    fidelity, cell = str(p.get("fidelity", "numeric")), str(p.get("cell", "1R"))
    spice_kw = {k: number(p, k) for k in ("workers", "timeout") if k in p}
    check_tile_options(fidelity, {"cell": cell, **spice_kw})
    if cell not in ("1R", "1T1R"):
        raise ConfigError(f"tile job: cell must be 1R or 1T1R, got {cell!r}")
    periphery = Periphery.from_options({k: p[k] for k in PERIPHERY_FIELDS if k in p})
    periphery.require_modelled(fidelity)
    workers = int(spice_kw.get("workers", 1)) if fidelity in ("spice", "hybrid") else 0
    check_memory(crossbar_bytes(rows, cols, cell=cell, engines=workers), f"a {rows} x {cols} tile")
    variation = number(p, "variation", spread or 0.0)
    g_range = (number(p, "g_min", 1e-6), number(p, "g_max", 1e-4))
    if device is None and variation:
        raise ConfigError("device variation needs a device model (linear cells have none)")
    if device is None and not 0 < g_range[0] <= g_range[1]:
        raise ConfigError(f"need 0 < g_min <= g_max, got {g_range[0]}, {g_range[1]} S")
    if "workers" in spice_kw:
        spice_kw["workers"] = int(spice_kw["workers"])
    return {"rows": rows, "cols": cols, "batch": batch, "seed": seed, "fidelity": fidelity,
            "periphery": periphery, "cell": cell, "device": device, "variation": variation, "g_range": g_range,
            "spice_kw": spice_kw,
            "v_read": number(p, "v_read", 0.1), "r_wire": number(p, "r_wire", 0.0),
            "wires": {k: number(p, k, 0.0) for k in ("r_wire_row", "r_wire_col") if k in p}}


def check_job(params: dict[str, Any]) -> None:
    """Validate a ``tile`` job's parameters without building the tile (:class:`ConfigError`)."""
    _settings(params)


def tile_job(params: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Build a tile, read seeded random inputs both ways, compare with ``ideal`` (see the module
    doc); returns flat metrics. ``workdir``: the job's scratch directory (unused)."""
    from memcircuit.tiles import make_tile

    s = _settings(params)
    rows, cols, batch, seed, device, variation = (s[k] for k in ("rows", "cols", "batch", "seed", "device",
                                                                  "variation"))
    fidelity, v_read = s["fidelity"], s["v_read"]
    rng = np.random.default_rng(seed)
    cells: dict[str, Any] = {}
    if device is None:
        cells["g"] = rng.uniform(*s["g_range"], (rows, cols))
    else:
        cells["states"] = rng.uniform(device.x_min, device.x_max, (rows, cols))
        if variation:
            from memcircuit.devices import sample_devices

            device = sample_devices(device, (rows, cols), np.random.default_rng([seed, 5]), spread=variation)
    v = rng.uniform(-v_read, v_read, (batch, rows))
    e = rng.uniform(-v_read, v_read, (batch, cols))
    common = dict(device=device, r_wire=s["r_wire"], v_read=v_read, seed=seed, cell=s["cell"],
                  **s["wires"], **cells)
    spice_kw = s["spice_kw"]
    with make_tile("ideal", rows, cols, **common) as ideal:
        ref, ref_t, g = ideal.read(v), ideal.read_t(e), ideal.conductances()
    with make_tile(fidelity, rows, cols, **common, **spice_kw,
                   **s["periphery"].tile_kwargs(dac_full_scale=v_read)) as tile:
        t0 = time.perf_counter()
        out = tile.read(v)
        t1 = time.perf_counter()
        out_t = tile.read_t(e)
        t2 = time.perf_counter()
    return {"fidelity": fidelity, "rows": rows, "cols": cols, "max_rel_error": _rel(out, ref),
            "max_rel_error_t": _rel(out_t, ref_t), "max_rel_error_gv": _rel(out, v @ g),
            "i_max": float(np.max(np.abs(out))), "seconds_read": t1 - t0, "seconds_read_t": t2 - t1}
