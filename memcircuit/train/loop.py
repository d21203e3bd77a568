"""The in-situ training loop: forward reads, backward reads and pulse programming on tiles.

One epoch: the training split is shuffled (seeded per epoch); every mini-batch is read forward
through the tiles, the output error is read backward through them, the optimizer turns the
gradient into weight changes, the encoder (:mod:`memcircuit.train.pulses`) into pulse programs,
and the tiles apply them. Pulse counts and programming energy are the tiles' own reports.
After the epoch the validation and test splits are read forward (accuracy and loss), a metrics
row is written (``metrics.json`` and ``metrics.csv``), and a checkpoint is saved.

Random streams are derived from the seed and never shared: initial weights ``[seed, 0]``, tile
``k`` programming noise ``[seed, 1, k]``, shuffling of epoch ``e`` ``[seed, 2, e]``, stochastic
pulse rounding of epoch ``e`` ``[seed, 3, e]``. A checkpoint stores the device states, the tiles'
noise-generator states and the optimizer state, so a resumed run repeats the uninterrupted one
exactly.
"""

from __future__ import annotations

import csv
import io
import json
import signal
import threading
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from memcircuit.circuits.spec import PERIPHERY_FIELDS
from memcircuit.devices import VaDevice, cached_twin
from memcircuit.errors import ConfigError, TrainingError, TrainingTimeout
from memcircuit.fidelity import Fidelity
from memcircuit.fileio import write_atomic, write_json
from memcircuit.tiles.config import TileOptions
from memcircuit.tiles.energy import EnergyLedger, flat_energy, sum_energy
from memcircuit.tiles.spice import TransientProgrammer
from memcircuit.train.checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    partial_checkpoint_path,
    remove_partial_checkpoints,
    save_checkpoint,
)
from memcircuit.train.conv import ConvNetwork, conv_network, parse_spec
from memcircuit.train.datasets import Dataset, load_dataset, require_layers_fit
from memcircuit.train.network import ACTIVATIONS, MappingConfig, Network, conductance_range, cross_entropy, layer_tile
from memcircuit.train.optimizers import REGISTRY, make_optimizer
from memcircuit.train.optimizers.base import Factored
from memcircuit.train.pulses import SCHEMES, PulseCalibration, calibrate, require_finite

ENERGY_KEYS = tuple(flat_energy(EnergyLedger().snapshot()))
METRIC_KEYS = ("epoch", "train_acc", "test_acc", "val_acc", "loss", "val_loss", "test_loss", "pulses",
               "energy_j", "seconds", "lr", *ENERGY_KEYS)


@dataclass(frozen=True)
class TrainConfig(TileOptions):
    """Everything that defines a training run (SI units). Stored as ``config.json``.

    The tile fields (fidelity, device, wires, periphery, read voltage, workers, ...) are those of
    :class:`~memcircuit.tiles.config.TileOptions`; :meth:`tile_config` derives the tiles' tree."""

    dataset: str = "iris"
    layers: tuple[int, ...] = (4, 8, 3)
    model: str | None = None
    optimizer: str = "sgd"
    epochs: int = 10
    batch: int = 8
    seed: int = 0
    lr: float = 0.1
    momentum: float = 0.9
    adaptive_rule: str = "rmsprop"
    lr_cell_per: str = "layer"
    activation: str = "sigmoid"
    signed: str = "differential"
    scheme: str = "auto"
    w_max: float = 1.0
    v_prog: float | None = None
    t_unit: float | None = None
    max_units: int = 128
    levels: float = 1000.0
    patience: int | None = None
    test_fraction: float = 0.2
    val_fraction: float = 0.0
    max_train: int | None = None
    max_test: int | None = None
    mnist_dir: str | None = None
    eval_train: bool = False
    optimizer_options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(int(n) for n in self.layers))
        super().__post_init__()
        if self.optimizer not in REGISTRY:
            raise ConfigError(f"optimizer must be one of {', '.join(REGISTRY)}, got {self.optimizer!r}")
        if self.scheme not in ("auto", *SCHEMES):
            raise ConfigError(f"pulse scheme must be auto, {', '.join(SCHEMES)}; got {self.scheme!r}")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        for name in ("epochs", "batch"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.patience is not None and self.patience < 1:
            raise ConfigError(f"patience must be >= 1 epoch, got {self.patience}")
        if self.model is not None:
            parse_spec(self.model)   # the syntax now; the shapes once the data set is known

    def to_json(self) -> dict[str, Any]:
        d = super().to_json()
        d["layers"] = list(self.layers)
        return d

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainConfig:
        """From JSON values; periphery options may also be flat keys (``"opamp_gain": "1k"``, as in
        sweep specs and in the configurations written before they were grouped)."""
        names = {f.name for f in fields(cls)}
        flat = {k: data[k] for k in data if k in PERIPHERY_FIELDS}
        if flat:
            data = {k: v for k, v in data.items() if k not in flat}
            data["periphery"] = {**data.get("periphery", {}), **flat}
        unknown = set(data) - names
        if unknown:
            raise ConfigError(f"unknown training option(s): {', '.join(sorted(unknown))}")
        options = data.get("tile_options") or {}
        if Fidelity.parse(data.get("fidelity", "numeric")) != Fidelity.SPICE and \
                set(options) & set(TransientProgrammer.OPTIONS):
            # earlier runs could carry the spice transient's options at other fidelities, where
            # they never had an effect; a new configuration refuses them
            data = {**data, "tile_options": {k: v for k, v in options.items()
                                             if k not in TransientProgrammer.OPTIONS}}
        return cls(**data)

def device_and_range(cfg: TrainConfig):
    """The run's device model and the conductance range (S) its weights use. A Verilog-A file
    becomes its characterized twin (:func:`memcircuit.devices.cached_twin`; at ``spice`` the twin
    runs the compiled file)."""
    from memcircuit.tiles import resolve_device

    device = resolve_device(cfg.device, **cfg.device_options)
    if isinstance(device, VaDevice):  # pulse calibration and the twin fidelities need a numeric twin
        device = cached_twin(device, v_read=cfg.v_read)[0]
    return (device, *conductance_range(device, cfg.v_read))


class Trainer:
    """Runs (or resumes) one training run into ``out`` (see module doc)."""

    def __init__(self, cfg: TrainConfig, out: str | Path, *, progress: bool = False,
                 data: Dataset | None = None) -> None:
        self.cfg, self.out, self.progress = cfg, Path(out), progress
        self.data = data if data is not None else load_dataset(
            cfg.dataset, seed=cfg.seed, test_fraction=cfg.test_fraction, val_fraction=cfg.val_fraction,
            max_train=cfg.max_train, max_test=cfg.max_test, mnist_dir=cfg.mnist_dir)
        if cfg.model is None:
            require_layers_fit(cfg.dataset, cfg.layers, self.data.n_features, self.data.n_classes)
        self.device, g_min, g_max = device_and_range(cfg)
        self.mapping = MappingConfig(g_min, g_max, cfg.signed, cfg.w_max, cfg.v_read, cfg.tile_rows, cfg.tile_cols,
                                     cfg.periphery.input_bits, cfg.periphery.error_bits)
        self.cal: PulseCalibration = calibrate(self.device, v_read=cfg.v_read, v_prog=cfg.v_prog, t_unit=cfg.t_unit,
                                               max_units=cfg.max_units, levels=cfg.levels)
        self._tile_count = 0
        if cfg.model is None:
            self.net = Network(list(cfg.layers), self.mapping, self._make_tile, np.random.default_rng([cfg.seed, 0]),
                               activation=cfg.activation, parallel_tiles=cfg.parallel_tiles)
        else:
            self.net = conv_network(cfg.model, self.data.n_features, self.data.n_classes, self.mapping,
                                    self._make_tile, np.random.default_rng([cfg.seed, 0]), cfg.parallel_tiles)
        self.optimizer = make_optimizer(cfg, self.device, self.cal)
        self.optimizer.setup([(layer.n_in + 1, layer.n_out) for layer in self.net.layers],
                             np.random.default_rng([cfg.seed, 4]))
        self.optimizer.attach(self.net, self.cal, scheme=cfg.scheme)
        self.history: list[dict[str, Any]] = []
        self.best = {"monitor": float("inf"), "epoch": 0, "bad": 0}
        self.stopped_early = False
        self.status, self.error = "running", None
        self._last_good: tuple[dict[str, Any], dict[str, np.ndarray]] | None = None
        self._timeout: float | None = None
        self._deadline: float | None = None

    # -- tiles ---------------------------------------------------------------------------------
    def _make_tile(self, rows: int, cols: int, g: np.ndarray):
        k = self._tile_count
        self._tile_count += 1
        return layer_tile(self.cfg.tile_config(rows, cols), g, k, device=self.device, seed=self.cfg.seed,
                          variation=self.cfg.variation)

    # -- one epoch -----------------------------------------------------------------------------
    def _program(self, updates, rng: np.random.Generator) -> tuple[int, float]:
        pulses, energy = 0, 0.0
        for k, (layer, upd) in enumerate(zip(self.net.layers, updates)):
            try:
                reports = self.optimizer.program(k, layer, upd, rng)
            except TrainingError as exc:
                exc.layer_index = k if exc.layer_index is None else exc.layer_index
                raise
            for report in reports:
                pulses += int(report.pulses)
                energy += float(report.energy_j or 0.0)
        return pulses, energy

    def take_energy(self) -> dict[str, dict[str, float]]:
        """Energy (J) every tile of the network has used since the last call, by phase and
        component (:mod:`memcircuit.tiles.energy`; learning-rate cells from the optimizer)."""
        parts = sum_energy(tile.take_energy() for tile in self.net.tiles())
        parts["program"]["lr_cells"] += self.optimizer.take_cell_energy()
        return parts

    def _layer_name(self, k: int) -> str:
        layer = self.net.layers[k]
        return f"{k + 1} of {len(self.net.layers)} ({layer.n_in} -> {layer.n_out})"

    def update(self, grads: list[tuple[np.ndarray, np.ndarray]], rng: np.random.Generator) -> tuple[int, float]:
        """One optimizer step for the gradient factors ``grads`` (per layer ``x``, ``delta``) and
        its programming; returns (pulses, energy in J).

        Every update is checked to be finite before any tile is programmed; a NaN or infinity is a
        :class:`~memcircuit.errors.NonFiniteUpdate` naming the layer (the encoders check again
        whatever a pulse-level rule derives from it).
        """
        try:
            for k, (x, delta) in enumerate(grads):
                require_finite("the gradient", x, delta, layer_index=k)
            with np.errstate(over="ignore", invalid="ignore"):   # overflows are caught as non-finite values
                updates = self.optimizer.step(grads)
            for k, upd in enumerate(updates):
                require_finite(f"the {self.optimizer.name} update",
                               *((upd.u, upd.v) if isinstance(upd, Factored) else (upd.dense(),)), layer_index=k)
            return self._program(updates, rng)
        except TrainingError as exc:
            if exc.layer_index is not None and exc.layer is None:
                exc.layer = self._layer_name(exc.layer_index)
            raise

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float | None, float | None]:
        """(accuracy, loss) of the network on ``x``, ``y`` by forward reads (None if empty)."""
        if len(y) == 0:
            return None, None
        p = self.net.predict(x, batch=256)
        return float(np.mean(p.argmax(axis=1) == y)), cross_entropy(p, y)

    def run_epoch(self, epoch: int, partial: dict[str, Any] | None = None) -> dict[str, Any]:
        """Train one epoch (from batch ``partial["batch"]`` of a partial checkpoint) and evaluate.

        Before every batch the state is snapshot in memory (:meth:`_snapshot`), so that a batch
        that fails or is interrupted can be saved as the checkpoint of the last good batch.
        """
        cfg, d = self.cfg, self.data
        t0 = time.perf_counter()
        order = np.random.default_rng([cfg.seed, 2, epoch]).permutation(len(d.y_train))
        rng = np.random.default_rng([cfg.seed, 3, epoch])
        batches = [order[i:i + cfg.batch] for i in range(0, len(order), cfg.batch)]
        acc = {"batch": 0, "correct": 0, "loss_sum": 0.0, "pulses": 0, "energy": 0.0, "seconds": 0.0,
               "energy_parts": flat_energy(EnergyLedger().snapshot())}
        if partial is not None:
            acc.update({k: partial.get(k, acc[k]) for k in acc})
            rng.bit_generator.state = partial["rng"]
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=len(batches), initial=acc["batch"], desc=f"epoch {epoch}/{cfg.epochs}", unit="batch",
                       leave=False)
        for b in range(acc["batch"], len(batches)):
            acc["batch"], acc["seconds"] = b, acc["seconds"] + time.perf_counter() - t0
            t0 = time.perf_counter()
            self._snapshot(epoch, acc, rng)
            self._check_deadline()
            xb, yb = d.x_train[batches[b]], d.y_train[batches[b]]
            self.take_energy()          # what came before the batch (evaluation reads) is not the epoch's
            try:
                cache = self.net.forward(xb)
                loss = cross_entropy(cache.probs, yb)
                p, e = self.update(self.net.backward(cache, yb), rng)
            except TrainingError as exc:
                exc.epoch, exc.batch = epoch, (b + 1, len(batches))
                raise
            acc["correct"] += int(np.sum(cache.probs.argmax(axis=1) == yb))
            acc["loss_sum"] += loss * len(yb)
            acc["pulses"], acc["energy"] = acc["pulses"] + p, acc["energy"] + e
            spent = flat_energy(self.take_energy())
            acc["energy_parts"] = {k: acc["energy_parts"][k] + spent[k] for k in spent}
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.3f}")
        if bar is not None:
            bar.close()
        acc["batch"] = len(batches)
        self._snapshot(epoch, acc, rng)      # an interrupted evaluation resumes here
        correct, loss_sum, pulses, energy = acc["correct"], acc["loss_sum"], acc["pulses"], acc["energy"]
        train_acc, train_loss = correct / len(d.y_train), loss_sum / len(d.y_train)
        if cfg.eval_train:
            train_acc, train_loss = self.evaluate(d.x_train, d.y_train)
        val_acc, val_loss = self.evaluate(d.x_val, d.y_val)
        test_acc, test_loss = self.evaluate(d.x_test, d.y_test)
        lr = self.optimizer.effective_lr()
        self.optimizer.end_epoch(train_loss, val_loss)
        row = {"epoch": epoch, "train_acc": train_acc, "test_acc": test_acc, "val_acc": val_acc,
               "loss": train_loss, "val_loss": val_loss, "test_loss": test_loss, "pulses": pulses,
               "energy_j": energy, "seconds": acc["seconds"] + time.perf_counter() - t0, "lr": lr,
               **acc["energy_parts"]}
        row.update({k: v for k, v in self.optimizer.epoch_metrics().items() if k not in row})
        return row

    # -- state ---------------------------------------------------------------------------------
    def state_arrays(self) -> dict[str, np.ndarray]:
        arrays = {}
        for k, tile in enumerate(self.net.tiles()):
            x = tile.states()
            arrays[f"tile.{k}.states"] = x if x is not None else tile.conductances()
        for key, value in self.optimizer.state_dict().items():
            arrays[f"opt.{key}"] = np.asarray(value)
        return arrays

    def _meta(self, epoch: int) -> dict[str, Any]:
        return {"epoch": epoch, "history": list(self.history), "best": dict(self.best),
                "stopped_early": self.stopped_early, "config": self.cfg.to_json(),
                "tile_rng": [tile.rng.bit_generator.state for tile in self.net.tiles()]}

    def save(self, epoch: int) -> Path:
        """Checkpoint after finished epoch ``epoch``; partial checkpoints of it are then removed."""
        path = save_checkpoint(checkpoint_path(self.out / "checkpoints", epoch), self._meta(epoch),
                               self.state_arrays())
        remove_partial_checkpoints(self.out / "checkpoints", epoch)
        return path

    def _snapshot(self, epoch: int, acc: dict[str, Any], rng: np.random.Generator) -> None:
        """Keep in memory the state before batch ``acc["batch"]`` of ``epoch`` (see :meth:`save_partial`)."""
        meta = self._meta(epoch - 1)
        meta["partial"] = {**acc, "epoch": epoch, "rng": rng.bit_generator.state,
                           "counters": self.optimizer.epoch_state()}
        self._last_good = (meta, self.state_arrays())

    def save_partial(self) -> Path | None:
        """Write the last in-memory snapshot as a partial checkpoint (epoch in progress, batches
        done); None when it adds nothing to the last epoch checkpoint (no batch done yet)."""
        if self._last_good is None:
            return None
        meta, arrays = self._last_good
        part = meta["partial"]
        if part["batch"] == 0:
            found = latest_checkpoint(self.out / "checkpoints")
            return found[0] if found is not None else None
        path = save_checkpoint(partial_checkpoint_path(self.out / "checkpoints", part["epoch"], part["batch"]),
                               meta, arrays)
        remove_partial_checkpoints(self.out / "checkpoints", part["epoch"] - 1, part["batch"])
        return path

    def _check_deadline(self) -> None:
        if self._deadline is not None and time.monotonic() >= self._deadline:
            raise TrainingTimeout(f"stopped at the time limit of {self._timeout:g} s")

    def restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> int:
        # an option added after the checkpoint was written takes its default there (defaults
        # keep the earlier behaviour), so the run still counts as the same
        saved = TrainConfig.from_json(meta["config"]).to_json()
        if saved != {**self.cfg.to_json(), "epochs": saved["epochs"]}:
            raise ConfigError(f"the checkpoints in {self.out} belong to a run with other options; "
                              "use the same options (only --epochs may change) or another --out")
        for k, tile in enumerate(self.net.tiles()):
            if tile.states() is not None:
                tile.set_states(arrays[f"tile.{k}.states"])
            tile.rng.bit_generator.state = meta["tile_rng"][k]
        self.optimizer.load_state_dict({key[4:]: (v if v.ndim else v.item()) for key, v in arrays.items()
                                        if key.startswith("opt.")})
        self.history, self.best = meta["history"], meta["best"]
        self.stopped_early = meta["stopped_early"]
        part = meta.get("partial")
        if part is not None:
            self.optimizer.load_epoch_state(part["counters"])
        return int(meta["epoch"])

    # -- outputs -------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Everything about the run so far. ``complete`` is true once the run has trained all its
        epochs or stopped early; only then are the final fields (``final_test_acc``,
        ``final_train_acc``, ``best_epoch``, ``stopped_early``) present. ``status`` says why an
        unfinished run ended: ``running`` (or killed), ``failed``, ``timeout``, ``interrupted``."""
        last = self.history[-1] if self.history else {}
        done = int(last.get("epoch", 0))
        complete = self.stopped_early or done >= self.cfg.epochs
        out = {"config": self.cfg.to_json(), "dataset": self.data.summary(), "calibration": self.cal.to_json(),
               "optimizer": self.optimizer.describe(), "epochs": self.history,
               "complete": complete, "status": "complete" if complete else self.status,
               "epochs_done": done, "epochs_planned": self.cfg.epochs,
               "pulses_total": int(sum(r["pulses"] for r in self.history)),
               "energy_j_total": float(sum(r["energy_j"] or 0.0 for r in self.history)),
               "energy_total": {key: float(sum(r.get(key) or 0.0 for r in self.history)) for key in ENERGY_KEYS}}
        if self.error is not None:
            out["error"] = self.error
        if complete:
            out.update({"final_test_acc": last.get("test_acc"), "final_train_acc": last.get("train_acc"),
                        "best_epoch": self.best["epoch"], "stopped_early": self.stopped_early})
        return out

    def write_metrics(self) -> None:
        write_json(self.out / "metrics.json", self.summary())
        buf = io.StringIO()
        keys = list(METRIC_KEYS) + sorted({k for row in self.history for k in row} - set(METRIC_KEYS))
        writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        for row in self.history:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in keys})
        write_atomic(self.out / "metrics.csv", buf.getvalue())

    def write_network(self) -> Path:
        """``network.npz``: the weights the tiles hold now, in the layout of
        :mod:`memcircuit.train.model` (what ``memcircuit infer`` reads)."""
        from memcircuit.train.model import conv_from_tiled, from_tiled

        if isinstance(self.net, ConvNetwork):
            return conv_from_tiled(self.net.stages, self.net.input_shape, self.net.weights()).save_npz(
                self.out / "network.npz")
        return from_tiled(self.net.weights(), self.net.activations).save_npz(self.out / "network.npz")

    # -- the run -------------------------------------------------------------------------------
    def run(self, *, resume: bool = False, stop_after: int | None = None,
            timeout: float | None = None) -> dict[str, Any]:
        """Train to ``cfg.epochs`` (or early stop); ``stop_after`` ends after that many epochs of
        this call (used to simulate an interrupted run). Returns :meth:`summary`.

        ``timeout`` (s of wall-clock time) ends the run with :class:`~memcircuit.errors.TrainingTimeout`
        between batches, or in the middle of one (SIGALRM, when called from the main thread).
        Whenever a run ends before its last epoch by an exception (a non-finite update, the time
        limit, Ctrl-C, a simulation error), the state before the batch in progress is saved as a
        partial checkpoint, ``metrics.json`` records ``complete: false`` with the reason, and the
        exception goes on; ``--resume`` continues from that batch with the same numbers.
        """
        self.out.mkdir(parents=True, exist_ok=True)
        found = latest_checkpoint(self.out / "checkpoints")
        start, partial = 0, None
        if found is not None:
            if not resume:
                raise ConfigError(f"{self.out} already holds a training run; pass --resume to continue it "
                                  "or choose another --out")
            start = self.restore(found[1], found[2])
            partial = found[1].get("partial")
        write_atomic(self.out / "config.json", json.dumps(self.cfg.to_json(), indent=2) + "\n")
        if timeout is not None and not (np.isfinite(timeout) and timeout > 0):
            raise ConfigError(f"timeout must be a number of seconds > 0, got {timeout!r}")
        self._timeout = timeout
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self.status, self.error = "running", None
        try:
            with _alarm(timeout):
                self.write_metrics()          # "complete": false, "status": "running" from the start
                done = 0
                epoch = start
                while epoch < self.cfg.epochs and not self.stopped_early:
                    if stop_after is not None and done >= stop_after:
                        break
                    epoch += 1
                    row = self.run_epoch(epoch, partial)
                    partial = None
                    self.history.append(row)
                    self._early_stopping(row)
                    self.save(epoch)
                    self._last_good = None
                    self.write_metrics()
                    done += 1
        except BaseException as exc:
            self._ended_by(exc)
            raise
        self.write_metrics()
        self.write_network()
        return self.summary()

    def _ended_by(self, exc: BaseException) -> None:
        """Save the last good batch and mark ``metrics.json`` unfinished, with the reason."""
        path = self.save_partial()
        if isinstance(exc, TrainingError):
            exc.checkpoint = path
        self.status = ("timeout" if isinstance(exc, TrainingTimeout) else
                       "interrupted" if isinstance(exc, KeyboardInterrupt) or not isinstance(exc, Exception)
                       else "failed")
        self.error = str(exc) or type(exc).__name__
        self.write_metrics()

    def _early_stopping(self, row: dict[str, Any]) -> None:
        monitor = row["val_loss"] if row["val_loss"] is not None else row["loss"]
        if monitor < self.best["monitor"]:
            self.best = {"monitor": float(monitor), "epoch": row["epoch"], "bad": 0}
        else:
            self.best["bad"] += 1
            if self.cfg.patience is not None and self.best["bad"] >= self.cfg.patience:
                self.stopped_early = True

    def close(self) -> None:
        self.net.close()


class _alarm:
    """SIGALRM after ``seconds`` raises :class:`TrainingTimeout` in the main thread, so that a long
    batch (a large tile's transient) cannot outlive the time limit; elsewhere, or without a
    limit, nothing (the loop then checks the deadline between batches)."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.active = (seconds is not None and hasattr(signal, "setitimer")
                       and threading.current_thread() is threading.main_thread())

    def _fire(self, signum, frame) -> None:
        raise TrainingTimeout(f"stopped at the time limit of {self.seconds:g} s")

    def __enter__(self) -> _alarm:
        if self.active:
            self.previous = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, float(self.seconds))
        return self

    def __exit__(self, *exc) -> None:
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0.0)
            signal.signal(signal.SIGALRM, self.previous)


def epochs_to_target(rows: list[dict[str, Any]], target: float, key: str = "test_acc") -> int | None:
    """First epoch whose ``key`` reaches ``target`` (None if never)."""
    for row in rows:
        if row.get(key) is not None and row[key] >= target:
            return int(row["epoch"])
    return None
