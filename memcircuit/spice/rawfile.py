"""ngspice raw files (binary and ascii, real and complex) read with numpy in linear time and memory.

spicelib's ``RawRead`` is not used: it scans the whole file once per vector, so reading costs
vectors x file size. That was 9.3 of 9.8 s of ``memcircuit simulate`` on a 12 x 12 crossbar, made
the 32 x 32 one grow to 24 GB until the kernel killed it, and took 22 GB on a 70 MB raw file
(docs/BENCHMARKS.md). Here the header is parsed once and the data block becomes one
``(points, variables)`` array (``np.fromfile`` over the binary block, one float conversion of the
ascii tokens).

Format: a text header per plot (``Title:``, ``Date:``, ``Plotname:``, ``Flags:``,
``No. Variables:``, ``No. Points:``, ``Variables:`` and one ``index name type`` line per vector),
then ``Binary:`` (float64 values, point after point; complex plots store re, im for every value)
or ``Values:`` (per point its index, then one value per vector; ``re,im`` when complex). Several
plots may follow each other in one file.

The data decide the number of points: ngspice 46 can write more rows than its ``No. Points``
says, so the rows actually present are read (up to the next plot or the end of the file). Fewer
rows than declared, or a partial row, means a truncated file and raises :class:`SimulationError`.
"""

from __future__ import annotations

import mmap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from memcircuit.errors import SimulationError, SimulationTimeout

_PLOT_KIND = {"operating point": "op", "transient analysis": "tran", "dc transfer characteristic": "dc",
              "ac analysis": "ac"}
_CHUNK_ROWS_BYTES = 1 << 24  # read the data in pieces of about 16 MB so that a deadline is checked
_NEXT_PLOT = b"Title:"


@dataclass(frozen=True)
class RawPlot:
    """One plot of a raw file: its header fields, vector names and types, and the data.

    ``data`` has shape ``(points, len(names))``, float64 for real plots and complex128 for
    complex ones; ``declared_points`` is the header's ``No. Points`` (may be less than the rows
    ngspice actually wrote).
    """

    plotname: str
    flags: str
    names: tuple[str, ...]
    types: tuple[str, ...]
    data: np.ndarray
    declared_points: int
    header: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def title(self) -> str:
        return self.header.get("title", "")

    @property
    def kind(self) -> str:
        """``op``, ``tran``, ``dc``, ``ac`` or the plot name in lower case."""
        name = self.plotname.strip().lower()
        return _PLOT_KIND.get(name, name)

    @property
    def is_complex(self) -> bool:
        return "complex" in self.flags.lower()

    def vectors(self) -> dict[str, np.ndarray]:
        """{ngspice name: 1-D array} (each a contiguous copy of one column)."""
        columns = np.ascontiguousarray(self.data.T)
        return {name: columns[i] for i, name in enumerate(self.names)}


def _check_deadline(deadline: float | None, path: Path) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise SimulationTimeout(f"reading {path.name} did not finish before the deadline")


def _bad(path: Path, why: str) -> SimulationError:
    return SimulationError(f"{path.name}: not a readable ngspice raw file ({why})")


def _read_header(f: BinaryIO, path: Path, deadline: float | None) -> tuple[dict[str, str], list[str], list[str], str]:
    """Header fields (lower-case keys), vector names and types, and ``binary``/``values``."""
    fields: dict[str, str] = {}
    number = 0  # header line; errors name it and never quote it (the file may be anything)
    while True:
        number += 1
        line = f.readline()
        if not line.endswith(b"\n"):
            raise _bad(path, "the header ends before its Binary:/Values: line; truncated")
        text = line.decode("latin-1").rstrip("\r\n")
        key, sep, value = text.partition(":")
        key = key.strip().lower()
        if not sep:
            if text.strip():
                raise _bad(path, f"header line {number} is not 'Field: value'")
            continue
        if key == "variables":
            break
        if key in ("binary", "values"):
            raise _bad(path, "no Variables: section")
        fields[key] = value.strip()
    try:
        n_vars = int(fields["no. variables"])
        int(fields["no. points"])
    except (KeyError, ValueError):
        raise _bad(path, "No. Variables / No. Points missing or not a number") from None
    if n_vars < 1:
        raise _bad(path, "no variables")
    names, types = [], []
    while len(names) < n_vars:
        line = f.readline()
        if not line.endswith(b"\n"):
            raise _bad(path, f"{len(names)} of {n_vars} variables before the end of the file; truncated")
        parts = line.decode("latin-1").split()
        if not parts:
            continue
        if len(parts) < 3 or parts[0] != str(len(names)):
            raise _bad(path, f"variable line {len(names)} is malformed")
        names.append(parts[1])
        types.append(parts[2])
        if len(names) % 10000 == 0:
            _check_deadline(deadline, path)
    while True:
        line = f.readline()
        if not line.endswith(b"\n"):
            raise _bad(path, "no Binary:/Values: line after the variables; truncated")
        marker = line.decode("latin-1").strip().lower()
        if marker in ("binary:", "values:"):
            return fields, names, types, marker[:-1]
        if marker:
            raise _bad(path, "no Binary:/Values: line after the variables")


def _binary_rows(f: BinaryIO, path: Path, width: int, declared: int, deadline: float | None) -> np.ndarray:
    """The float64 rows (``width`` values each) from here to the next plot or the end of file.

    Rows beyond the declared count (ngspice 46 writes them at times) are read: the block ends
    where the next plot's ``Title:`` starts on a row boundary, else at the end of the file."""
    row_bytes = width * 8
    start = f.tell()
    end = f.seek(0, 2)
    with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:  # a search without a copy
        stop = mm.find(_NEXT_PLOT, min(start + declared * row_bytes, end))
        while stop >= 0 and (stop - start) % row_bytes:
            stop = mm.find(_NEXT_PLOT, stop + 1)
    stop = end if stop < 0 else stop
    rows = (stop - start) // row_bytes
    if rows < declared:
        raise _bad(path, f"{rows} of {declared} points present; truncated")
    if start + rows * row_bytes != stop:
        raise _bad(path, f"{stop - start - rows * row_bytes} bytes after the last whole point; truncated")
    f.seek(start)
    out = np.empty(rows * width, dtype=np.float64)
    step = max(1, _CHUNK_ROWS_BYTES // row_bytes) * width
    for lo in range(0, out.size, step):
        _check_deadline(deadline, path)
        count = min(step, out.size - lo)
        out[lo:lo + count] = np.fromfile(f, dtype=np.float64, count=count)
    f.seek(stop)
    return out.reshape(rows, width)


def _ascii_rows(f: BinaryIO, path: Path, n_vars: int, is_complex: bool, declared: int,
                deadline: float | None) -> np.ndarray:
    """The values (one row per point) up to the next plot or the end of file."""
    chunks: list[np.ndarray] = []
    per_point = 1 + n_vars * (2 if is_complex else 1)  # the point index, then the values
    pending: list[bytes] = []
    while True:
        line = f.readline()
        if not line or line.startswith(_NEXT_PLOT):
            if line:
                f.seek(-len(line), 1)
            break
        pending.extend(line.replace(b",", b" ").split())
        if len(pending) >= 1 << 20:
            _check_deadline(deadline, path)
            whole = len(pending) - len(pending) % per_point
            chunks.append(_floats(pending[:whole], path))
            del pending[:whole]
    if pending:
        chunks.append(_floats(pending, path))
    flat = np.concatenate(chunks) if chunks else np.empty(0)
    if flat.size % per_point:
        raise _bad(path, "the last point is incomplete; truncated")
    table = flat.reshape(-1, per_point)
    if table.shape[0] < declared:
        raise _bad(path, f"{table.shape[0]} of {declared} points present; truncated")
    if not np.array_equal(table[:, 0], np.arange(table.shape[0])):
        raise _bad(path, "point indices are not 0, 1, 2, ...")
    return table[:, 1:]


def _floats(tokens: list[bytes], path: Path) -> np.ndarray:
    try:
        return np.array(tokens, dtype=np.float64)
    except ValueError:
        raise _bad(path, "a value is not a number; truncated or damaged") from None


def read_plots(path: str | Path, *, deadline: float | None = None) -> list[RawPlot]:
    """Every plot in the raw file ``path``; ``deadline`` (``time.monotonic()``) bounds the read."""
    p = Path(path)
    plots: list[RawPlot] = []
    try:
        with open(p, "rb") as f:
            while True:
                probe = f.read(1)
                if not probe:
                    break
                f.seek(-1, 1)
                fields, names, types, layout = _read_header(f, p, deadline)
                flags = fields.get("flags", "real")
                is_complex = "complex" in flags.lower()
                declared = int(fields["no. points"])
                if layout == "binary":
                    width = len(names) * (2 if is_complex else 1)
                    table = _binary_rows(f, p, width, declared, deadline)
                else:
                    table = _ascii_rows(f, p, len(names), is_complex, declared, deadline)
                data = table[:, 0::2] + 1j * table[:, 1::2] if is_complex else table
                plots.append(RawPlot(fields.get("plotname", ""), flags, tuple(names), tuple(types), data,
                                     declared, fields))
    except OSError as exc:
        raise SimulationError(f"cannot read raw file {p}: {exc.strerror or exc}") from None
    if not plots:
        raise _bad(p, "empty file")
    return plots


def read_raw(path: str | Path, *, deadline: float | None = None) -> tuple[str, dict[str, np.ndarray]]:
    """(analysis kind, {ngspice name: array}) of the last plot in an ngspice raw file."""
    plot = read_plots(path, deadline=deadline)[-1]
    return plot.kind, plot.vectors()
