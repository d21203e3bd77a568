"""Memory estimates: refuse sizes this machine cannot hold before any work starts.

The per-cell figure covers the netlist text, ngspice's element and matrix structures (KLU) and
our nodal solver's factorisation of the same crossbar (measured: 0.6 kB per cell to write a 1R
netlist, 2.7 kB to read it with the nodal solver, 5.4 kB in ngspice at 300 x 300, rounded up);
every ngspice worker process adds its own interpreter and libngspice (about 45 MB measured).
"""

from __future__ import annotations

import os
from pathlib import Path

from memcircuit.errors import ConfigError

BYTES_PER_CELL = {"1R": 6e3, "1T1R": 10e3}   # the access transistor adds a node and an element per cell
BYTES_PER_ENGINE = 64e6                       # one ngspice worker process


def available_memory() -> float:
    """Bytes this machine can still give a process (``MemAvailable``, else physical memory)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def crossbar_bytes(rows: int, cols: int, *, cell: str = "1R", engines: int = 0) -> float:
    """Estimated bytes to build and solve a ``rows`` x ``cols`` crossbar with ``engines`` ngspice
    worker processes."""
    return float(rows) * float(cols) * BYTES_PER_CELL.get(cell, BYTES_PER_CELL["1T1R"]) + engines * BYTES_PER_ENGINE


def check_memory(estimate: float, what: str) -> None:
    """:class:`ConfigError` naming the estimate and the limit when ``estimate`` bytes exceed the
    memory available."""
    limit = available_memory()
    if estimate > limit:
        raise ConfigError(f"{what} needs about {estimate / 1e9:.3g} GB by estimate, more than the "
                          f"{limit / 1e9:.3g} GB of memory available; choose smaller sizes")
