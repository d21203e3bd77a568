"""Helpers shared by the CLI modules: SI-number parameters, JSON output, file checks."""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import click
import numpy as np

from memcircuit.errors import ConfigError
from memcircuit.units import parse_si


class SIFloat(click.ParamType):
    """A number with optional engineering prefix: 1e-3, 1m, 10k, 2.5meg."""

    name = "number"

    def __init__(self, *, positive: bool = False, nonnegative: bool = False) -> None:
        self.positive = positive
        self.nonnegative = nonnegative

    def convert(self, value, param, ctx) -> float:
        if isinstance(value, float):
            return value
        label = param.human_readable_name if param is not None else "value"
        try:
            number = parse_si(value, name=label)
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)
        if self.positive and not number > 0:
            self.fail(f"must be > 0, got {value}", param, ctx)
        if self.nonnegative and number < 0:
            self.fail(f"must be >= 0, got {value}", param, ctx)
        return number


# Every command that loads a user netlist takes the same option (usernetlist.py: why).
allow_include_option = click.option(
    "--allow-include", "allow_include", multiple=True, metavar="DIR",
    type=click.Path(file_okay=False, exists=True, resolve_path=True),
    help="Let .include/.lib read files under DIR too (repeatable); by default only the netlist's "
         "folder and the project's model folders.")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _umask() -> int:
    """The process's umask (read by setting it, then restoring it at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: str | Path, text: str) -> None:
    """Write a file so that readers see either the old content or the whole new one; it gets the
    permissions open() would give it (0644 under the usual umask)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            os.fchmod(handle.fileno(), 0o666 & ~_umask())  # mkstemp makes 0600; open() would give 0666 - umask
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_output(destination: str | None, option: str) -> None:
    """:class:`ConfigError` now, before any work, when ``destination`` (a file to write; ``-`` is
    stdout) is a directory or lies under a file."""
    if destination in (None, "-"):
        return
    path = Path(destination)
    if path.is_dir():
        raise ConfigError(f"{option}: {destination} is a directory; give a file name")
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ConfigError(f"{option}: {parent} is a file, not a directory")


def emit_json(data: Any, destination: str | None) -> None:
    """Write JSON to a file, or to stdout when destination is '-'."""
    if destination is None:
        return
    text = json.dumps(_jsonable(data), indent=2) + "\n"
    if destination == "-":
        click.echo(text, nl=False)
    else:
        write_atomic(destination, text)


def load_npy(path: str, *, what: str, ndim: int | None = None) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what}: file not found: {p}")
    try:
        arr = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:  # EOFError: an empty file (click would say "aborted")
        raise ConfigError(f"{what}: {p} is not a .npy array ({exc or 'empty file'})") from None
    if ndim is not None and arr.ndim != ndim:
        raise ConfigError(f"{what}: expected a {ndim}-D array, {p} has shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)):
        raise ConfigError(f"{what}: {p} must hold finite numbers")
    return arr.astype(float)


def warn(message: str) -> None:
    """One line on stderr about input that works but is questionable."""
    click.echo(f"warning: {message}", err=True)


def progress_enabled() -> bool:
    return sys.stderr.isatty() or bool(os.environ.get("MEMCIRCUIT_PROGRESS"))
