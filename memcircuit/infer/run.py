"""A trained network evaluated through tiles at any fidelity, next to the same network in software.

Mapping: the layers are the :class:`~memcircuit.train.network.Network` of the training loop
(bias row driven at the read voltage, signed weights on differential pairs or against a reference
column, layers larger than a tile split into a grid of tiles; conv layers of a
:class:`~memcircuit.train.model.ConvModel` by im2col on the tiles of a
:class:`~memcircuit.train.conv.ConvNetwork`, pooling in the periphery). Each layer ``k`` gets its own
``w_max = max |W_k|`` (weights and bias), so that its largest weight spans the device's
conductance range and the periphery scales the sensed currents back by ``w_max / (g_max - g_min)``
(per-layer weight scaling of aihwkit's ``weight_scaling_omega`` and CrossSim; docs/ASSUMPTIONS.md).

Placement of the weights:

* ``write-verify``: every cell is set to its target conductance (an ideal program-and-verify
  loop; a cell whose device range, under device-to-device variation, does not reach its target
  ends at its bound);
* ``open-loop``: every device is erased to its lowest conductance and receives the unit
  programming pulses that the nominal calibration asks for, without reading back (the open-loop
  initialisation of :class:`memcircuit.train.optimizers.pulsed.PulseOptimizer`); device-to-device
  variation, cycle-to-cycle noise and the state-dependent response then distort the weights.
  ``verify_rounds`` > 0 adds that many read-verify correction rounds.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from memcircuit.errors import ConfigError
from memcircuit.tiles.base import Tile
from memcircuit.tiles.config import TileOptions
from memcircuit.tiles.energy import flat_energy, sum_energy
from memcircuit.train.conv import ConvNetwork
from memcircuit.train.model import ConvModel, DenseModel
from memcircuit.train.network import MappingConfig, Network, conductance_range, layer_tile
from memcircuit.train.optimizers.pulsed import PulseOptimizer

PLACEMENTS = ("write-verify", "open-loop")


@dataclass(frozen=True)
class InferConfig(TileOptions):
    """Circuit and placement options of an inference run (SI units; names as in ``TrainConfig``).

    The tile fields (fidelity, device, wires, ``periphery``: drivers, sense amplifiers, ADC and
    input DAC, ...) are those of :class:`~memcircuit.tiles.config.TileOptions`; ``batch``: samples
    per forward read.
    """

    signed: str = "differential"
    placement: str = "write-verify"
    verify_rounds: int = 0
    v_prog: float | None = None
    t_unit: float | None = None
    max_units: int = 128
    levels: float = 1000.0
    seed: int = 0
    batch: int = 256

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.placement not in PLACEMENTS:
            raise ConfigError(f"placement must be one of {', '.join(PLACEMENTS)}, got {self.placement!r}")
        if self.verify_rounds < 0:
            raise ConfigError(f"verify rounds must be >= 0, got {self.verify_rounds}")
        if self.batch < 1:
            raise ConfigError(f"batch must be >= 1, got {self.batch}")


class _InitialWrite(PulseOptimizer):
    """Only the initial write of a pulse-level optimizer (open loop and read-verify rounds):
    the network is not trained, so it takes no update."""

    name = "initial-write"

    def layer_update(self, k, x, delta):
        raise ConfigError("an inference network takes no weight updates")

    def program_layer(self, k, layer, update, rng):
        raise ConfigError("an inference network takes no weight updates")


def layer_scales(model: DenseModel | ConvModel) -> list[float]:
    """Per layer ``max |w|`` over weights and bias (1 for an all-zero layer)."""
    out = []
    for w in model.stacked():
        m = float(np.max(np.abs(w)))
        out.append(m if m > 0 else 1.0)
    return out


class CircuitNetwork:
    """``model`` placed on tiles of ``cfg`` (see module doc); :meth:`forward` reads it."""

    def __init__(self, model: DenseModel | ConvModel, cfg: InferConfig) -> None:
        from memcircuit.tiles import resolve_device

        self.model, self.cfg = model, cfg
        if cfg.device is None:
            raise ConfigError("inference needs a memristor model for the cells (--device)")
        self.device = resolve_device(cfg.device, **cfg.device_options)
        g_min, g_max = conductance_range(self.device, cfg.v_read)
        self.mapping = MappingConfig(g_min, g_max, cfg.signed, 1.0, cfg.v_read, cfg.tile_rows, cfg.tile_cols,
                                     cfg.periphery.input_bits, None)
        self.scales = layer_scales(model)
        self._tiles = 0
        rng = np.random.default_rng([cfg.seed, 0])
        if isinstance(model, ConvModel):
            self.net = ConvNetwork(model.stages, model.input_shape, self.mapping, self._make_tile, rng,
                                   weights=model.stacked(), parallel_tiles=cfg.parallel_tiles, w_max=self.scales)
        else:
            self.net = Network(model.sizes, self.mapping, self._make_tile, rng,
                               activation=list(model.activations[:-1]), weights=model.stacked(),
                               parallel_tiles=cfg.parallel_tiles, w_max=self.scales)
        self.programming: dict[str, Any] = {"placement": cfg.placement}
        try:
            if cfg.placement == "open-loop" or cfg.verify_rounds:
                self._write_pulses()
        except BaseException:
            self.close()
            raise

    def _make_tile(self, rows: int, cols: int, g: np.ndarray) -> Tile:
        """A tile like the training loop's (:func:`~memcircuit.train.network.layer_tile`) holding
        ``g`` (S), each cell clipped to the range its own device reaches."""
        k = self._tiles
        self._tiles += 1
        return layer_tile(self.cfg.tile_config(rows, cols), g, k, device=self.device, seed=self.cfg.seed,
                          variation=self.cfg.variation, clip_to_device=True)

    def _write_pulses(self) -> None:
        """Open-loop programming (and read-verify rounds) by the pulse optimizers' initial write."""
        from memcircuit.train.pulses import calibrate

        cfg = self.cfg
        cal = calibrate(self.device, v_read=cfg.v_read, v_prog=cfg.v_prog, t_unit=cfg.t_unit,
                        max_units=cfg.max_units, levels=cfg.levels)
        writer = _InitialWrite(1.0, init="open-loop" if cfg.placement == "open-loop" else "ideal",
                               init_verify=cfg.verify_rounds)
        writer.setup([w.shape for w in self.model.stacked()], np.random.default_rng([cfg.seed, 4]))
        writer.attach(self.net, cal)
        self.programming.update({"verify_rounds": cfg.verify_rounds, "device_pulses": writer.counters[
            "init_device_pulses"], "driver_pulses": writer.counters["driver_pulses"],
            "v_prog": writer.cal.v_prog, "t_unit": writer.cal.t_unit})

    def weight_errors(self) -> list[dict[str, float]]:
        """Per layer the placed weights against the software ones: RMS and max |error| relative to
        ``max |w|`` of the layer."""
        out = []
        for placed, target, scale in zip(self.net.weights(), self.model.stacked(), self.scales):
            err = (placed - target) / scale
            out.append({"rms": float(np.sqrt(np.mean(err ** 2))), "max": float(np.max(np.abs(err)))})
        return out

    def forward(self, x: np.ndarray, progress: bool = False) -> list[np.ndarray]:
        """Pre-activations of every layer read through the tiles, in batches: (batch, n_out) for a
        dense layer, (batch, F, Ho, Wo) for a conv layer."""
        parts: list[list[np.ndarray]] = [[] for _ in self.net.layers]
        starts = range(0, len(x), self.cfg.batch)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(x), desc=f"infer ({self.cfg.fidelity})", unit="sample", leave=False)
        for i in starts:
            cache = self.net.forward(x[i:i + self.cfg.batch])
            for k, z in enumerate(cache.pre):
                parts[k].append(z)
            if bar is not None:
                bar.update(len(x[i:i + self.cfg.batch]))
        if bar is not None:
            bar.close()
        return [np.concatenate(p) if p else np.zeros((0, n)) for p, n in zip(parts, self.model.sizes[1:])]

    def energy(self) -> dict[str, dict[str, float]]:
        """Energy (J) the tiles have used so far (placement pulses and reads), by component."""
        return sum_energy(tile.energy() for tile in self.net.tiles())

    def close(self) -> None:
        self.net.close()

    def __enter__(self) -> CircuitNetwork:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _layer_error(z_hw: np.ndarray, z_sw: np.ndarray) -> dict[str, float]:
    err = z_hw - z_sw
    rms_sw = float(np.sqrt(np.mean(z_sw ** 2))) if z_sw.size else 0.0
    rms = float(np.sqrt(np.mean(err ** 2))) if err.size else 0.0
    return {"rms": rms, "max": float(np.max(np.abs(err))) if err.size else 0.0,
            "relative_rms": rms / rms_sw if rms_sw > 0 else None}


def infer(model: DenseModel | ConvModel, x: np.ndarray, cfg: InferConfig, y: np.ndarray | None = None, *,
          progress: bool = False) -> tuple[dict[str, Any], dict[str, list[np.ndarray]]]:
    """Evaluate ``model`` on ``x`` (samples x features) in software and through tiles of ``cfg``.

    Returns (summary, outputs): the summary holds both accuracies (with labels ``y``), the fraction
    of predictions the circuit changes, per-layer output errors against software (RMS, max and RMS
    relative to the software RMS, in the layer's pre-activation units; each layer is read with the
    circuit's own inputs, so errors accumulate), the placed-weight errors, the programming report
    and the options, and the energy of placement and reads by component (J,
    :mod:`memcircuit.tiles.energy`); outputs are the per-layer pre-activations
    ``{"software": [...], "circuit": [...]}``.
    """
    x = np.asarray(x, dtype=float).reshape(len(x), -1)
    n_in = model.sizes[0]
    if x.shape[1] != n_in:
        raise ConfigError(f"the inputs have {x.shape[1]} values per sample but the network takes {n_in}")
    if len(x) == 0:
        raise ConfigError("no samples to evaluate")
    if y is not None and len(y) != len(x):
        raise ConfigError(f"{len(y)} labels for {len(x)} samples")
    z_sw = model.forward(x)
    start = time.perf_counter()
    with CircuitNetwork(model, cfg) as circuit:
        placed = time.perf_counter()
        z_hw = circuit.forward(x, progress=progress)
        read = time.perf_counter()
        energy = flat_energy(circuit.energy())
        read_paths = Counter(tile.read_info.get("path", "none") for tile in circuit.net.tiles())
        weight_err = circuit.weight_errors()
        programming = circuit.programming
        scales = circuit.scales
        g_range = (circuit.mapping.g_min, circuit.mapping.g_max)
    pred_sw = model.output(z_sw[-1]).argmax(axis=1)
    pred_hw = model.output(z_hw[-1]).argmax(axis=1)
    summary: dict[str, Any] = {
        "samples": len(x), "sizes": model.sizes, "activations": list(model.activations), "model": model.source,
        "fidelity": cfg.fidelity, "options": cfg.to_json(),
        "accuracy": None if y is None else float(np.mean(pred_hw == y)),
        "software_accuracy": None if y is None else float(np.mean(pred_sw == y)),
        "changed_predictions": float(np.mean(pred_hw != pred_sw)),
        "layers": [{"layer": k, "inputs": shape[0], "outputs": shape[1],
                    "activation": model.activations[k], "w_max": scales[k], "output_error": _layer_error(h, s),
                    "weight_error": weight_err[k]}
                   for k, (h, s, shape) in enumerate(zip(z_hw, z_sw, model.layer_shapes()))],
        "g_min_s": g_range[0], "g_max_s": g_range[1], "programming": programming,
        "read_paths": dict(read_paths),  # tiles per read path: product (fixed-state W), solve, sweep
        "seconds": {"place": placed - start, "read": read - placed}, "energy": energy,
        "predictions": pred_hw, "software_predictions": pred_sw,
    }
    return summary, {"software": z_sw, "circuit": z_hw}
