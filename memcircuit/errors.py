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
    """A Verilog-A model could not be compiled to OSDI (or no compiler is installed), or it uses a
    construct OpenVAF or ngspice cannot run faithfully. ``output`` is the compiler's whole
    message (empty when the compiler did not run)."""

    def __init__(self, message: str, *, output: str = "") -> None:
        super().__init__(message)
        self.output = output


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


class TrainingError(MemcircuitError):
    """Training cannot go on: an update rule produced a non-finite change, asked for more
    programming than a device's range can take, or the run reached its time limit.

    Whoever knows fills in where it happened: ``layer_index`` (0-based, the optimizer or the
    encoder), ``layer`` (its description), ``epoch`` and ``batch`` (1-based, of ``batches``) and the
    ``checkpoint`` of the last good batch (the training loop); ``str()`` names them all.
    """

    #: whether the layer it happened in is part of the message (not for a time limit)
    names_layer = True

    def __init__(self, message: str, *, layer_index: int | None = None) -> None:
        super().__init__(message)
        self.layer_index = layer_index
        self.layer: str | None = None
        self.epoch: int | None = None
        self.batch: tuple[int, int] | None = None
        self.checkpoint: Path | None = None

    def __str__(self) -> str:
        where = []
        if self.epoch is not None:
            where.append(f"epoch {self.epoch}")
        if self.batch is not None:
            where.append(f"batch {self.batch[0]} of {self.batch[1]}")
        if self.names_layer and (self.layer is not None or self.layer_index is not None):
            where.append(f"layer {self.layer or self.layer_index + 1}")
        text = (", ".join(where) + ": " if where else "") + super().__str__()
        if self.checkpoint is not None:
            text += f"; the last good batch is saved in {self.checkpoint} (--resume continues from it)"
        return text


class NonFiniteUpdate(TrainingError):
    """An update rule handed NaN or infinity (or a pulse count beyond any device) to the encoder."""


class TrainingTimeout(TrainingError):
    """The run reached its wall-clock limit (``--timeout``) and stopped after saving its state."""

    names_layer = False


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived (:mod:`memcircuit.processes`): unwind and exit 128 + ``signum``.

    A ``BaseException`` like ``KeyboardInterrupt``, so that ``except Exception`` handlers (a
    sweep job reporting its failure, a retry) let it through, and not a ``KeyboardInterrupt``,
    which click would turn into "aborted".
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
