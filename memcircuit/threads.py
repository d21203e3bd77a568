"""Thread counts of the numerical libraries a process uses (BLAS, OpenMP).

One thread per process by default: on a shared 2-core machine two OpenBLAS threads made the
batched sparse solves 5-7x slower under load, so parallelism comes from workers and tiles. Set
``MEMCIRCUIT_BLAS_THREADS`` (an integer >= 1) to change it; ``scripts/bench_scale.py`` measures
both settings side by side. ngspice's own thread count is set separately
(:func:`memcircuit.spice.engine.ngspice_threads`).
"""

from __future__ import annotations

import os

from memcircuit.errors import ConfigError

BLAS_THREADS_ENV = "MEMCIRCUIT_BLAS_THREADS"
_applied: int | None = None


def blas_threads(value: str | int | None = None) -> int:
    """The BLAS/OpenMP thread count: ``value``, else ``$MEMCIRCUIT_BLAS_THREADS``, else 1."""
    raw = os.environ.get(BLAS_THREADS_ENV, "1") if value is None else value
    try:
        n = int(raw)
    except (TypeError, ValueError):
        n = 0
    if n < 1:
        raise ConfigError(f"{BLAS_THREADS_ENV} must be an integer >= 1, got {raw!r}")
    return n


def limit_threads(n: int | None = None, *, force: bool = False) -> int:
    """Set every loaded BLAS and OpenMP library to ``n`` threads (default :func:`blas_threads`).

    Libraries loaded later (a solver imported after this call) need another call: the sparse
    solvers call it after they load SuiteSparse. Cheap when nothing changed (``force`` redoes it).
    """
    global _applied
    n = blas_threads() if n is None else blas_threads(n)
    if force or _applied != n:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=n)
        _applied = n
    return n
