"""ngspice engines (``ngspice -b`` subprocess and in-process libngspice), results and OSDI cache.

Quick use::

    from memcircuit.spice import run
    result = run(circuit, Tran(1e-6, 1e-3))      # batch engine, KLU on
    result["v(out)"], result.time
"""

from __future__ import annotations

from memcircuit.netlist.ir import Analysis, Circuit
from memcircuit.spice.batch import BatchEngine
from memcircuit.spice.engine import DEFAULT_TIMEOUT, Engine
from memcircuit.spice.osdi import compile_va, find_openvaf
from memcircuit.spice.result import Result
from memcircuit.spice.shared import SharedEngine
from memcircuit.spice.usernetlist import UserNetlist

ENGINES = {"batch": BatchEngine, "shared": SharedEngine}


def make_engine(name: str = "batch", **kwargs) -> Engine:
    """An engine by name: ``"batch"`` (ngspice -b) or ``"shared"`` (libngspice worker)."""
    try:
        return ENGINES[name](**kwargs)
    except KeyError:
        raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}") from None


def run(netlist: Circuit | UserNetlist, analysis: Analysis | None = None, *, engine: str = "batch",
        timeout: float = DEFAULT_TIMEOUT, keep_dir: bool = False) -> Result:
    """Run one analysis in a fresh engine and return its vectors."""
    kwargs = {"timeout": timeout}
    if engine == "batch":
        kwargs["keep_dir"] = keep_dir
    with make_engine(engine, **kwargs) as eng:
        return eng.run(netlist, analysis)


__all__ = ["BatchEngine", "Engine", "Result", "SharedEngine", "UserNetlist", "compile_va",
           "find_openvaf", "make_engine", "run"]
