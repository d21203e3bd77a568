"""ngspice's own solver statistics (``rusage all``) of the circuit loaded in a worker.

They say where a simulation's time goes: Newton iterations, sparse LU factorisations and solves
(every iteration loads the matrix, refactorises it with KLU and solves once). The counters add
up from the moment the circuit was parsed; subtract two snapshots to get one run's share.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from memcircuit.errors import SimulationError

_FIELDS = {
    "equations": "Circuit Equations",
    "nonzeros": "Circuit original non-zeroes",
    "fill_in": "Circuit fill-in non-zeroes",
    "iterations": "Total iterations",
    "analysis_s": "Total analysis time (seconds)",
    "load_s": "Matrix load time",
    "reorder_s": "Matrix reorder time",
    "factor_s": "Matrix factor time",
    "solve_s": "Matrix solve time",
}
_SIZES = ("equations", "nonzeros", "fill_in")  # of the matrix: kept, not subtracted
_COUNTS = (*_SIZES, "iterations")  # integers; the rest are seconds


@dataclass(frozen=True)
class SolverStats:
    """Counters of the loaded circuit: matrix size (equations, non-zeros before and fill-in added
    by the LU factorisation), Newton iterations, and seconds spent in the analysis as a whole, in
    loading the matrix, in full factorisations with pivoting (``reorder_s``), in refactorisations
    with the kept pivot order (``factor_s``) and in triangular solves."""

    equations: int
    nonzeros: int
    fill_in: int
    iterations: int
    analysis_s: float
    load_s: float
    reorder_s: float
    factor_s: float
    solve_s: float

    def __sub__(self, before: SolverStats) -> SolverStats:
        """The counters of what ran between snapshot ``before`` and this one (sizes kept)."""
        return SolverStats(**{f.name: getattr(self, f.name) if f.name in _SIZES
                              else getattr(self, f.name) - getattr(before, f.name) for f in fields(self)})

    @property
    def factor_ms_per_iteration(self) -> float:
        """Milliseconds of refactorisation per Newton iteration (one refactorisation each)."""
        return 1e3 * self.factor_s / self.iterations if self.iterations else float("nan")


def parse_rusage(text: str) -> SolverStats:
    """Read :class:`SolverStats` from the output of ngspice's ``rusage all``."""
    values = {}
    for name, label in _FIELDS.items():
        m = re.search(rf"^{re.escape(label)}\s*=\s*([-+0-9.eE]+)", text, re.MULTILINE)
        if m is None:
            raise SimulationError(f"ngspice's rusage output has no '{label}' line")
        values[name] = int(float(m.group(1))) if name in _COUNTS else float(m.group(1))
    return SolverStats(**values)
