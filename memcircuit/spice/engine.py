"""What both ngspice engines share: the interface, output classification and convergence remedies.

An engine runs a netlist (a :class:`~memcircuit.netlist.Circuit` or a checked
:class:`~memcircuit.spice.usernetlist.UserNetlist`) for one analysis and returns a
:class:`~memcircuit.spice.result.Result`. When ngspice fails to converge the engine retries with
the standard remedies, in order, and raises :class:`ConvergenceError` naming them if all fail.
"""

from __future__ import annotations

import abc
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from memcircuit.errors import ConfigError, ConvergenceError, SimulationError, SimulationTimeout
from memcircuit.netlist.ir import Analysis, Circuit, DcSweep, Op, Tran, Value
from memcircuit.spice.result import Result

DEFAULT_TIMEOUT = 120.0  # seconds for one engine call: every attempt and the reading of the results
THREADS_ENV = "MEMCIRCUIT_NGSPICE_THREADS"


def ngspice_threads(value: int | str | None = None) -> int:
    """OpenMP threads ngspice may use for device evaluation: ``value``, else
    ``$MEMCIRCUIT_NGSPICE_THREADS``, else 1.

    ngspice sets its thread count from its own variable ``num_threads`` at every circuit setup,
    overriding ``OMP_NUM_THREADS``, and Debian's ngspice package asks for 8 in its ``spinit``.
    On 2 cores that is ruinous: a 64 x 32 programming transient of OSDI memristors took 79 s
    with 8 threads, 27 s with 2 and 14 s with 1 (docs/BENCHMARKS.md). Both engines therefore
    set ``num_threads`` themselves; parallelism belongs one level up (workers, tiles, sweeps).
    """
    raw = os.environ.get(THREADS_ENV, "1") if value is None else value
    try:
        n = int(raw)
    except (TypeError, ValueError):
        n = 0
    if n < 1 or str(n) != str(raw).strip():
        raise ConfigError(f"ngspice threads ({THREADS_ENV}) must be a whole number >= 1, got {raw!r}")
    return n


# ngspice output that means the analysis finally failed to converge (case-insensitive). Warnings
# such as "singular matrix" or "gmin stepping failed" are not failures by themselves: ngspice goes
# on to the next rung (source stepping, transient op) and may well succeed.
_CONVERGENCE = re.compile(
    r"timestep too small|simulation\(s\) aborted|dc solution failed|transient op failed|"
    r"iteration limit reached|no convergence|op(?:erating point)? failed",
    re.IGNORECASE,
)
# ngspice output that means something else went wrong (syntax, unknown model, aborted run).
_ERROR = re.compile(
    r"^\s*error|\berror:|unknown (?:subckt|model|device|parameter)|could not find|"
    r"no such (?:vector|device)|unable to find|fatal|cannot (?:open|find)|"
    r"undefined|unrecognized|failed to load",
    re.IGNORECASE,
)
# Warnings about a netlist line ngspice dropped (e.g. "'r2 b 0' is not a valid resistor instance
# line, ignored!"): it then solves the circuit that remains and exits 0, so the numbers describe
# a circuit nobody wrote. An error, although ngspice calls it a warning.
_DROPPED = re.compile(r"is not a valid .*\bline\b|\bignored!", re.IGNORECASE)
# Lines that contain the words above but are harmless notes and recovered warnings.
_BENIGN = re.compile(
    r"^\s*(note|warning|trying|gmin step|source step|stepping|supplies reduced|"
    r"using klu|doing analysis|reference value|no\. of data rows)",
    re.IGNORECASE,
)


def classify(output: str) -> tuple[str, str] | None:
    """First failure in ngspice output: ``("convergence"|"error", line)`` or None if clean.

    Recovered trouble (gmin/source stepping notes, singular-matrix warnings followed by a
    successful rung) is not a failure.
    """
    for line in output.splitlines():
        if _CONVERGENCE.search(line) and not re.search(r"stepping failed", line, re.IGNORECASE):
            return "convergence", line.strip()
        if _DROPPED.search(line):
            return "error", line.strip()
        if _BENIGN.search(line):
            continue
        if _ERROR.search(line):
            return "error", line.strip()
    return None


def time_left(deadline: float, timeout: float) -> float:
    """Seconds until ``deadline`` (a ``time.monotonic()`` value) of a call allowed ``timeout`` s;
    :class:`SimulationTimeout` once it has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise SimulationTimeout(f"the engine call took more than its time limit of {timeout:g} s")
    return left


def tail(output: str, lines: int = 25) -> str:
    return "\n".join(output.splitlines()[-lines:])


@dataclass(frozen=True)
class Remedy:
    """One standard convergence remedy: extra options and, for tran, a smaller step cap."""

    label: str
    options: tuple[tuple[str, Value], ...] = ()
    step_divisor: float | None = None  # tran: cap the internal step at step/divisor


# Tried in order after a plain run fails (ngspice already does its default gmin and source
# stepping in op; these make the stepping finer, add shunts and switch integration method).
OP_REMEDIES: tuple[Remedy, ...] = (
    Remedy("finer gmin and source stepping", (("gminsteps", 100), ("srcsteps", 100), ("itl1", 500))),
    Remedy("shunt resistors to ground (rshunt=1e12)", (("rshunt", 1e12), ("gminsteps", 100),
                                                        ("srcsteps", 100), ("itl1", 500))),
)
TRAN_REMEDIES: tuple[Remedy, ...] = (
    Remedy("gear integration and more iterations", (("method", "gear"), ("itl4", 100))),
    Remedy("smaller time step (step/10)", (("method", "gear"), ("itl4", 100)), step_divisor=10.0),
    Remedy("smaller step, gmin/source stepping and shunts",
           (("method", "gear"), ("itl4", 200), ("gminsteps", 100), ("srcsteps", 100),
            ("rshunt", 1e12)), step_divisor=100.0),
)


def remedies_for(analysis: Analysis | None) -> tuple[Remedy, ...]:
    return TRAN_REMEDIES if isinstance(analysis, Tran) else OP_REMEDIES


def apply_step_remedy(analysis: Analysis | None, remedy: Remedy) -> Analysis | None:
    if isinstance(analysis, Tran) and remedy.step_divisor:
        cap = analysis.step / remedy.step_divisor
        return replace(analysis, max_step=min(cap, analysis.max_step or cap))
    return analysis


def analysis_kind(analysis: Analysis | None) -> str | None:
    if isinstance(analysis, Op):
        return "op"
    if isinstance(analysis, Tran):
        return "tran"
    if isinstance(analysis, DcSweep):
        return "dc"
    return None


class Engine(abc.ABC):
    """One way of running ngspice. Subclasses implement :meth:`_run_once`."""

    name = "engine"

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT, remedies: bool = True,
                 threads: int | None = None) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be > 0 s")
        self.timeout = timeout
        self.remedies = remedies
        self.threads = ngspice_threads(threads)  # ngspice's num_threads for every run of this engine

    @abc.abstractmethod
    def _run_once(self, netlist, analysis: Analysis | None, options: Sequence[tuple[str, Value]],
                  deadline: float) -> Result:
        """Run once, done by ``deadline`` (``time.monotonic()``); raise ConvergenceError (plain, no
        remedies), SimulationTimeout or SimulationError on failure."""

    def run(self, netlist, analysis: Analysis | None = None) -> Result:
        """Run ``analysis`` on ``netlist`` (None: the analysis cards of a user netlist).

        Retries convergence failures with the standard remedies before giving up. The whole call
        (every attempt, reading the results) ends within ``timeout`` seconds: a limit per attempt
        let a failing circuit take four times as long as the user allowed.
        """
        if analysis is None and isinstance(netlist, Circuit):
            raise SimulationError("no analysis given for a generated circuit")
        deadline = time.monotonic() + self.timeout
        try:
            return self._run_once(netlist, analysis, (), deadline)
        except ConvergenceError as first:
            if not self.remedies:
                raise
            tried = ["ngspice defaults (gmin and source stepping)"]
            last = first
            for remedy in remedies_for(analysis):
                tried.append(remedy.label)
                try:
                    return self._run_once(netlist, apply_step_remedy(analysis, remedy), remedy.options, deadline)
                except ConvergenceError as again:
                    last = again
            raise ConvergenceError(
                f"{first.args[0]}; remedies tried without success: {'; '.join(tried)}",
                remedies=tuple(tried),
                netlist=last.netlist,
                run_dir=last.run_dir,
                output_tail=last.output_tail,
            ) from first

    def close(self) -> None:
        """Release resources (worker processes). Safe to call twice."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
