"""One exception hierarchy for the whole toolkit.

Every failure a user can cause or meet is one of these; the CLI maps them to exit code 2 and one
readable line (the traceback only with ``--debug``). :class:`Interrupted` is not a failure: it
ends a command that received SIGINT or SIGTERM (exit code 130 or 143).
"""

from __future__ import annotations

import signal
from pathlib import Path


class MemcircuitError(Exception):
    """Root of all memcircuit errors."""


class ConfigError(MemcircuitError):
    """Bad user input: parameters, file names, numbers, missing tools."""


class NetlistError(MemcircuitError):
    """A netlist (generated or loaded) is malformed or unsafe."""


class ModelCompileError(MemcircuitError):
    """A Verilog-A model could not be compiled to OSDI (or no compiler is installed)."""


class SimulationError(MemcircuitError):
    """ngspice failed. Carries the netlist, the run directory and the tail of ngspice's output."""

    def __init__(
        self,
        message: str,
        *,
        netlist: str | None = None,
        run_dir: Path | None = None,
        output_tail: str = "",
    ) -> None:
        super().__init__(message)
        self.netlist = netlist
        self.run_dir = run_dir
        self.output_tail = output_tail

    def __str__(self) -> str:
        text = super().__str__()
        if self.run_dir is not None:
            text += f" (run directory: {self.run_dir})"
        return text


class ConvergenceError(SimulationError):
    """ngspice did not converge even after the standard remedies were tried.

    ``remedies`` lists what was tried (e.g. gmin stepping, source stepping, smaller time step).
    """

    def __init__(self, message: str, *, remedies: tuple[str, ...] = (), **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.remedies = remedies


class SimulationTimeout(SimulationError):
    """ngspice did not finish within the time limit; the run was killed."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived (:mod:`memcircuit.processes`): unwind and exit 128 + ``signum``.

    A ``BaseException`` like ``KeyboardInterrupt``, so that ``except Exception`` handlers (a
    sweep job reporting its failure, a retry) let it through, and not a ``KeyboardInterrupt``,
    which click would turn into "aborted".
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
