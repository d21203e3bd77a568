"""Helpers shared by the CLI modules: SI-number parameters, JSON output, file checks."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
import numpy as np

from memcircuit.errors import ConfigError
from memcircuit.fileio import json_text, write_atomic  # noqa: F401 (write_atomic: used by the CLI modules)
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
    text = json_text(data)
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
