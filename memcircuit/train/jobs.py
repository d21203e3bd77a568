"""The ``train`` job kind of ``memcircuit sweep``: one training run, metrics as a flat dict.

``params`` are :class:`~memcircuit.train.loop.TrainConfig` fields (``layers`` as a list or
``"30,16,2"``). Swept axes may use dotted names (they arrive as flat keys):

* ``device.spread``: device-to-device variation (relative sigma, ``TrainConfig.variation``);
* ``device.name``: the device model; ``device.<param>``: a device parameter override;
* ``opt.<key>``: an optimizer option (``memcircuit train --opt KEY=VALUE``);
* ``tile.<key>``: a tile option (e.g. ``tile.substeps``).

``device`` may also be a mapping ``{"name": ..., "spread": ..., <param>: ...}``. ``target_acc``
(optional) adds ``epochs_to_target``, the first epoch whose test accuracy reaches it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memcircuit.errors import ConfigError
from memcircuit.train.loop import TrainConfig, Trainer, epochs_to_target

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
        p["layers"] = [int(s) for s in p["layers"].split(",")]
    return TrainConfig.from_json(p)


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
