"""Checkpoints: one ``.npz`` per finished epoch, written atomically, no pickle.

``epoch_0005.npz`` holds the state after epoch 5. A run that ends inside an epoch (an error, the
time limit, Ctrl-C) also leaves a partial checkpoint ``epoch_0006_batch_0012.npz``: the state
before batch 13 of epoch 6 (12 batches done), with the epoch's running totals and random state in
its meta document under ``partial``. It is removed once epoch 6 is saved.

A checkpoint holds named numpy arrays (device states, optimizer state) and one JSON document
(epoch, metrics so far, early-stopping state, random-generator states), stored as a 0-d string
array under the key ``__meta__``. Files are written to a temporary name and renamed, so a run
killed while writing leaves the previous checkpoint intact; :func:`latest_checkpoint` returns the
newest file that loads.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from memcircuit.errors import ConfigError
from memcircuit.fileio import atomic_file

_NAME = re.compile(r"^epoch_(\d{4,})(?:_batch_(\d{4,}))?\.npz$")
META = "__meta__"


def checkpoint_path(directory: str | Path, epoch: int) -> Path:
    return Path(directory) / f"epoch_{epoch:04d}.npz"


def partial_checkpoint_path(directory: str | Path, epoch: int, batches_done: int) -> Path:
    """Where the state of ``epoch`` (in progress) after ``batches_done`` batches goes."""
    return Path(directory) / f"epoch_{epoch:04d}_batch_{batches_done:04d}.npz"


def _progress(name: str) -> tuple[int, int] | None:
    """(epochs finished, batches of the next epoch done) of a checkpoint file name, or None."""
    m = _NAME.match(name)
    if m is None:
        return None
    epoch = int(m.group(1))
    return (epoch, 0) if m.group(2) is None else (epoch - 1, int(m.group(2)))


def remove_partial_checkpoints(directory: str | Path, epoch: int, batches: int = 0) -> None:
    """Remove the partial checkpoints that ``epoch`` finished epochs plus ``batches`` batches of
    the next one supersede."""
    d = Path(directory)
    for p in d.iterdir() if d.is_dir() else ():
        progress = _progress(p.name)
        if progress is not None and "_batch_" in p.name and progress < (epoch, batches):
            p.unlink(missing_ok=True)


def save_npz_atomic(path: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` as an ``.npz`` so that readers see either the old file or the whole new one."""
    target = Path(path)
    with atomic_file(target, "wb") as handle:
        np.savez(handle, **arrays)
    return target


def save_checkpoint(path: str | Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` and the JSON-able ``meta`` to ``path`` atomically."""
    if META in arrays:
        raise ValueError(f"array name {META!r} is reserved")
    return save_npz_atomic(path, {META: np.array(json.dumps(meta)), **arrays})


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(meta, arrays) of one checkpoint; :class:`ConfigError` if it is missing or damaged."""
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(str(arrays.pop(META)))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"cannot read checkpoint {p}: {exc}") from None
    return meta, arrays


def latest_checkpoint(directory: str | Path) -> tuple[Path, dict[str, Any], dict[str, np.ndarray]] | None:
    """The newest readable checkpoint in ``directory`` (None if there is none)."""
    d = Path(directory)
    if not d.is_dir():
        return None
    found = sorted((progress, p) for p in d.iterdir() if (progress := _progress(p.name)) is not None)
    for _, p in reversed(found):
        try:
            meta, arrays = load_checkpoint(p)
        except ConfigError:
            continue
        return p, meta, arrays
    return None
