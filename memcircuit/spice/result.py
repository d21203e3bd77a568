"""Simulation results as named numpy arrays with our names, not ngspice-internal strings.

Naming: node voltages ``v(node)``, branch currents of voltage sources ``i(vname)`` (positive
current flows into the source's + terminal, ngspice's convention), internal nodes of subcircuit
instances ``v(xinst.node)``; the sweep variable is ``time`` (tran), the swept source name (dc) or
absent (op). All names are lower case.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from memcircuit.netlist.probes import offset, vector

_BRANCH = re.compile(r"^(.*)#branch$")
_WRAPPED = re.compile(r"^([vi])\((.*)\)$")
_SWEEPS = ("time", "frequency", "v-sweep", "i-sweep", "temp-sweep", "res-sweep")


def our_name(raw: str) -> str:
    """Map an ngspice vector name to ours: ``out -> v(out)``, ``v1#branch -> i(v1)``."""
    name = raw.strip().lower()
    if name in _SWEEPS:
        return name
    wrapped = _WRAPPED.match(name)
    if wrapped:
        kind, inner = wrapped.groups()
        if inner in _SWEEPS:
            return inner
        branch = _BRANCH.match(inner)
        return f"i({branch.group(1)})" if branch else f"{kind}({inner})"
    branch = _BRANCH.match(name)
    if branch:
        return f"i({branch.group(1)})"
    if name.startswith("@"):
        return name  # device parameter probe such as @r1[i]
    return f"v({name})"


@dataclass(frozen=True)
class Result(Mapping):
    """The vectors of one analysis. ``result["v(out)"]`` is a 1-D float array.

    ``analysis`` is ``"op"``, ``"tran"`` or ``"dc"``; ``sweep_name`` is ``"time"`` for tran and the
    swept source for dc; ``log`` keeps ngspice's output for diagnostics.
    """

    analysis: str
    vectors: Mapping[str, np.ndarray]
    sweep_name: str | None = None
    log: str = field(default="", repr=False, compare=False)

    def __getitem__(self, key) -> np.ndarray:
        """A vector by name (``"v(out)"``) or by probe (:mod:`memcircuit.netlist.probes`; a
        compiled device's state comes back with its offset added)."""
        if not isinstance(key, str):
            return self[vector(key)] + offset(key) if offset(key) else self[vector(key)]
        k = key.strip().lower()
        if k in self.vectors:
            return self.vectors[k]
        if our_name(k) in self.vectors:
            return self.vectors[our_name(k)]
        raise KeyError(f"no vector {key!r}; available: {', '.join(sorted(self.vectors))}")

    def __iter__(self) -> Iterator[str]:
        return iter(self.vectors)

    def __len__(self) -> int:
        return len(self.vectors)

    @property
    def sweep(self) -> np.ndarray | None:
        return self.vectors.get(self.sweep_name) if self.sweep_name else None

    @property
    def time(self) -> np.ndarray:
        if self.analysis != "tran":
            raise KeyError("only a transient result has a time axis")
        return self.vectors["time"]

    def scalar(self, key: str) -> float:
        """The value of an operating-point vector (a length-1 array) as a float."""
        arr = self[key]
        if arr.size != 1:
            raise ValueError(f"{key} has {arr.size} points; scalar() is for op results")
        return float(arr[0])

    def to_json(self) -> dict:
        """A JSON-ready dict with every vector by name."""
        return {
            "analysis": self.analysis,
            "sweep": self.sweep_name,
            "vectors": {k: np.asarray(v, dtype=float).tolist() for k, v in self.vectors.items()},
        }


def make_result(analysis: str, raw_vectors: Mapping[str, np.ndarray], log: str = "") -> Result:
    """Build a :class:`Result` from ngspice-named vectors (complex parts dropped for real analyses)."""
    vectors: dict[str, np.ndarray] = {}
    for raw, data in raw_vectors.items():
        arr = np.asarray(data)
        if np.iscomplexobj(arr):
            arr = arr.real
        vectors[our_name(raw)] = np.array(arr, dtype=float, copy=True).reshape(-1)
    sweep = None
    if analysis == "tran":
        sweep = "time"
    elif analysis == "dc":
        sweep = next((k for k in vectors if k.endswith("-sweep")), None)
        if sweep is None:
            sweep = next(iter(vectors), None)
    return Result(analysis=analysis, vectors=vectors, sweep_name=sweep, log=log)
