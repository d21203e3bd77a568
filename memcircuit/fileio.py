"""Result files written atomically, with the permissions a plain ``open()`` would give.

Every result the toolkit writes (JSON, CSV, netlists, checkpoints) goes through
:func:`atomic_file`: the data go to a temporary file in the target's folder, which replaces the
target only once it is complete, so a reader (or a run killed half-way) sees the old file or the
whole new one, never a half-written one that looks complete. ``mkstemp`` creates files 0600;
they get ``0666 & ~umask`` (0644 under the usual umask), like the figures matplotlib writes.

This module sits below every layer that writes results (training, sweeps, the CLI).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np


def _umask() -> int:
    """The process's umask (read by setting it, then restoring it at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_file(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file beside ``path`` (``mode`` ``"w"`` or ``"wb"``); on a clean exit it
    replaces ``path``, on any exception (an interruption too) it is removed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            os.fchmod(handle.fileno(), 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through :func:`atomic_file`."""
    with atomic_file(path) as handle:
        handle.write(text)


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy values as Python numbers, paths and other objects as strings and NaN/inf
    as None."""
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (str, int, float)):
        return obj
    return str(obj)   # e.g. a device model given as an object: its name


def json_text(data: Any) -> str:
    """Indented JSON of :func:`jsonable` ``data``, with a final newline."""
    return json.dumps(jsonable(data), indent=2) + "\n"


def write_json(path: str | Path, data: Any) -> None:
    """Write :func:`json_text` of ``data`` atomically."""
    write_atomic(path, json_text(data))
