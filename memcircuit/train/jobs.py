"""The ``train`` job kind of ``memcircuit sweep``: one training run, metrics as a flat dict.

``params`` are :class:`~memcircuit.train.loop.TrainConfig` fields (``layers`` as a list or
``"30,16,2"``). Swept axes may use dotted names (they arrive as flat keys):

* ``device.spread``: device-to-device variation (relative sigma, ``TrainConfig.variation``);
* ``device.name``: the device model; ``device.<param>``: a device parameter override;
* ``opt.<key>``: an optimizer option (``memcircuit train --opt KEY=VALUE``);
* ``tile.<key>``: a tile option (e.g. ``tile.substeps``).

Periphery options take their flat names (``sense``, ``opamp_gain``, ``adc_bits``, ... :
:class:`~memcircuit.circuits.spec.Periphery`), as on the command line.

``device`` may also be a mapping ``{"name": ..., "spread": ..., <param>: ...}``. ``target_acc``
(optional) adds ``epochs_to_target``, the first epoch whose test accuracy reaches it.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from memcircuit.errors import ConfigError
from memcircuit.train.loop import TrainConfig, Trainer, device_and_range, epochs_to_target

_NESTED = {"opt": "optimizer_options", "optimizer": "optimizer_options", "tile": "tile_options"}


def _device_entry(p: dict[str, Any], name: str, value: Any) -> None:
    if name == "spread":
        p["variation"] = float(value)
    elif name == "name":
        p["device"] = value
    else:
        p["device_options"] = {**p.get("device_options", {}), name: value}


def train_config(params: dict[str, Any]) -> TrainConfig:
    """A :class:`TrainConfig` from sweep parameters (see module doc for the dotted names)."""
    p = dict(params)
    p.pop("target_acc", None)
    device = p.get("device")
    if isinstance(device, dict):
        p["device"] = TrainConfig.device
        for name, value in device.items():
            _device_entry(p, name, value)
    for key in [k for k in p if "." in k]:
        head, _, name = key.partition(".")
        value = p.pop(key)
        if not name:
            raise ConfigError(f"sweep parameter {key!r} has no name after the dot")
        if head == "device":
            _device_entry(p, name, value)
        elif head in _NESTED:
            field = _NESTED[head]
            p[field] = {**p.get(field, {}), name: value}
        else:
            raise ConfigError(f"unknown sweep parameter {key!r}: dotted names start with device., opt. or tile.")
    if isinstance(p.get("layers"), str):
        p["layers"] = p["layers"].split(",")
    return TrainConfig.from_json({key: _typed(key, value) for key, value in p.items()})


def _integer(key: str, value: Any) -> int:
    if isinstance(value, str):
        value = value.strip()
        if value.lstrip("+-").isdigit():
            return int(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer():
        return int(value)
    raise ConfigError(f"training option {key}: expected an integer, got {value!r}")


_FIELD_TYPES = {f.name: str(f.type) for f in fields(TrainConfig)}
_PLAIN = {"str": str, "bool": bool, "dict": dict, "Periphery": dict}


def _typed(key: str, value: Any) -> Any:
    """``value`` converted to the type of :class:`TrainConfig` field ``key`` (SI strings for
    numbers); :class:`ConfigError` naming the key when it is of another kind."""
    from memcircuit.units import parse_si

    kind = _FIELD_TYPES.get(key)
    if kind is None or (value is None and "None" in kind):
        return value
    base = kind.split(" |")[0]
    if base == "tuple[int, ...]" and isinstance(value, (list, tuple)):
        return tuple(_integer(key, v) for v in value)
    if base == "int":
        return _integer(key, value)
    if base == "float" and not isinstance(value, bool):
        return parse_si(value, name=f"training option {key}")
    if isinstance(value, _PLAIN.get(base, ())):
        return value
    raise ConfigError(f"training option {key}: expected {kind}, got {value!r}")


def check_config(cfg: TrainConfig) -> None:
    """What a run can check before it loads data or builds tiles (:class:`ConfigError`): the
    layer sizes, dataset, device and its options, optimizer options and whether the tiles fit in
    memory (the tile options were checked when ``cfg`` was made: :meth:`TrainConfig.tile_config`)."""
    from memcircuit.resources import check_memory
    from memcircuit.train.conv import check_spec
    from memcircuit.train.datasets import DATASETS, SHAPES, require_layers_fit
    from memcircuit.train.network import layers_bytes
    from memcircuit.train.optimizers import make_optimizer
    from memcircuit.train.pulses import calibrate

    sizes = cfg.model or ",".join(map(str, cfg.layers))
    if cfg.model is None and (len(cfg.layers) < 2 or min(cfg.layers) < 1):
        raise ConfigError(f"layers needs at least an input and an output size >= 1, got {sizes}")
    if cfg.tile_rows < 1 or cfg.tile_cols < 2:
        raise ConfigError(f"tile_rows x tile_cols (--tile-size) must be at least 1 x 2 (a signed weight takes two "
                          f"columns), got {cfg.tile_rows}x{cfg.tile_cols}")
    if cfg.dataset not in DATASETS:
        raise ConfigError(f"unknown dataset {cfg.dataset!r}; choose one of {', '.join(DATASETS)}")
    if cfg.model is None:
        require_layers_fit(cfg.dataset, cfg.layers, *SHAPES[cfg.dataset])
        pairs = list(zip(cfg.layers[:-1], cfg.layers[1:]))
    else:
        pairs = check_spec(cfg.model, *SHAPES[cfg.dataset])[2]
    check_memory(layers_bytes(pairs, cfg.tile_rows, cfg.tile_cols, cfg.signed, cfg.fidelity),
                 f"a {sizes} network in {cfg.tile_rows}x{cfg.tile_cols} tiles at the {cfg.fidelity} fidelity")
    device = device_and_range(cfg)[0]
    make_optimizer(cfg, device, calibrate(device, v_read=cfg.v_read, v_prog=cfg.v_prog, t_unit=cfg.t_unit,
                                          max_units=cfg.max_units, levels=cfg.levels))


def check_job(params: dict[str, Any]) -> None:
    """Validate a ``train`` job's parameters without training (:class:`ConfigError`)."""
    if params.get("target_acc") is not None:
        from memcircuit.units import parse_si

        parse_si(params["target_acc"], name="target_acc")
    check_config(train_config(params))


def train_job(params: dict[str, Any], workdir: Path) -> dict[str, Any]:
    target = params.get("target_acc")
    from memcircuit.parallel.jobs import job_time_left

    trainer = Trainer(train_config(params), Path(workdir) / "run")
    try:
        summary = trainer.run(resume=True, timeout=job_time_left())
    finally:
        trainer.close()
    rows = summary["epochs"]
    out = {"final_test_acc": summary["final_test_acc"], "final_train_acc": summary["final_train_acc"],
           "epochs_run": len(rows), "best_epoch": summary["best_epoch"], "pulses": summary["pulses_total"],
           "energy_j": summary["energy_j_total"], "train_seconds": sum(r["seconds"] for r in rows),
           "complete": summary["complete"]}
    if target is not None:
        out["epochs_to_target"] = epochs_to_target(rows, float(target))
    return out
