"""The ``train`` job kind of ``memcircuit sweep``: one training run, metrics as a flat dict.

``params`` are :class:`~memcircuit.train.loop.TrainConfig` fields (``layers`` as a list or
``"30,16,2"``); ``device`` may be a model name or ``{"name": ..., "spread": ...}`` (the sweep's
dotted axis ``device.spread`` sets the device-to-device variation); ``target_acc`` (optional)
adds ``epochs_to_target``, the first epoch whose test accuracy reaches it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memcircuit.train.loop import TrainConfig, Trainer, epochs_to_target


def train_job(params: dict[str, Any], workdir: Path) -> dict[str, Any]:
    p = dict(params)
    target = p.pop("target_acc", None)
    device = p.get("device")
    if isinstance(device, dict):
        if "spread" in device:
            p["variation"] = float(device["spread"])
        p["device"] = device.get("name", TrainConfig.device)
    if isinstance(p.get("layers"), str):
        p["layers"] = [int(s) for s in p["layers"].split(",")]
    trainer = Trainer(TrainConfig.from_json(p), Path(workdir) / "run")
    try:
        summary = trainer.run(resume=True)
    finally:
        trainer.close()
    rows = summary["epochs"]
    out = {"final_test_acc": summary["final_test_acc"], "final_train_acc": summary["final_train_acc"],
           "epochs_run": len(rows), "best_epoch": summary["best_epoch"], "pulses": summary["pulses_total"],
           "energy_j": summary["energy_j_total"], "seconds": sum(r["seconds"] for r in rows)}
    if target is not None:
        out["epochs_to_target"] = epochs_to_target(rows, float(target))
    return out
