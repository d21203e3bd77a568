"""Running many independent simulations: executors (local pool, Dask) and resumable sweeps."""

from memcircuit.parallel.executors import DaskExecutor, Executor, LocalExecutor, make_executor
from memcircuit.parallel.sweep import SweepSpec, run_sweep

__all__ = ["DaskExecutor", "Executor", "LocalExecutor", "SweepSpec", "make_executor", "run_sweep"]
