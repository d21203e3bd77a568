"""``ngspice -b`` in a throw-away run directory; the raw file is written from a ``.control`` block.

Each run is a fresh process, so nothing a netlist does can harm the caller. The raw file is read
by :mod:`memcircuit.spice.rawfile` (numpy, linear in the file's size; spicelib's reader is not
used, see there why), within the engine call's one time limit. The run directory is removed after
a successful run unless ``keep_dir`` is set, and kept after a failure so that the netlist and log
can be inspected; an interruption (SIGINT, SIGTERM: :mod:`memcircuit.processes`) stops ngspice and
removes it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from memcircuit import processes
from memcircuit.errors import ConvergenceError, NetlistError, SimulationError, SimulationTimeout
from memcircuit.netlist import writer
from memcircuit.netlist.ir import Analysis, Circuit, Value
from memcircuit.spice.engine import DEFAULT_TIMEOUT, Engine, classify, tail, time_left
from memcircuit.spice.rawfile import read_raw
from memcircuit.spice.result import Result, make_result
from memcircuit.spice.usernetlist import UserNetlist, shown


def ngspice_executable() -> str:
    exe = os.environ.get("MEMCIRCUIT_NGSPICE") or shutil.which("ngspice")
    if not exe:
        raise SimulationError("ngspice is not installed (run scripts/setup.sh, or install ngspice >= 42)")
    return exe


def compose(netlist: Circuit | UserNetlist, analysis: Analysis | None, control: Sequence[str],
            options: Sequence[tuple[str, Value]] = (), threads: int = 1) -> str:
    """Netlist text with our options and control block appended (for either kind of netlist);
    ngspice's ``num_threads`` is set to ``threads`` before the analysis sets the circuit up."""
    run_line = writer.analysis(analysis) if analysis is not None else "run"
    control = [f"set num_threads={threads}", run_line, *control]
    if isinstance(netlist, Circuit):
        return writer.write(netlist, control=control, extra_options=options)
    if not isinstance(netlist, UserNetlist):
        raise TypeError("netlist must be a Circuit or a UserNetlist")
    if analysis is None and not netlist.has_analysis:
        raise SimulationError(f"{netlist.source}: no analysis card (.op/.tran/.dc) and none requested")
    opts = " ".join(["klu", *(f"{k}={writer.value(v)}" for k, v in options)])
    return f"{netlist.body}\n.options {opts}\n.control\n" + "\n".join(control) + "\n.endc\n.end\n"


class BatchEngine(Engine):
    """Runs ``ngspice -b`` once per analysis in a fresh process and run directory."""

    name = "batch"

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT, remedies: bool = True,
                 keep_dir: bool = False, run_root: str | Path | None = None, threads: int | None = None) -> None:
        super().__init__(timeout=timeout, remedies=remedies, threads=threads)
        self.keep_dir = keep_dir
        root = run_root or os.environ.get("MEMCIRCUIT_RUN_ROOT")
        self.run_root = Path(root) if root else None
        self.last_run_dir: Path | None = None

    def _run_once(self, netlist, analysis, options, deadline: float) -> Result:
        if isinstance(netlist, Circuit) and netlist.external_sources:
            raise NetlistError(f"{', '.join(netlist.external_sources)}: external sources take their values "
                               "from the host program; run them in the shared engine")
        if self.run_root:
            self.run_root.mkdir(parents=True, exist_ok=True)
        run_dir = Path(tempfile.mkdtemp(prefix="memcircuit-run-", dir=self.run_root))
        self.last_run_dir = run_dir
        try:
            return self._run_in(run_dir, netlist, analysis, options, deadline)
        except BaseException as exc:
            if not isinstance(exc, Exception):  # interrupted: nothing to diagnose
                shutil.rmtree(run_dir, ignore_errors=True)
                self.last_run_dir = None
            raise

    def _run_in(self, run_dir: Path, netlist, analysis, options, deadline: float) -> Result:
        """One ngspice run in ``run_dir`` (removed after a success unless ``keep_dir``)."""
        raw_path = run_dir / "result.raw"
        text = compose(netlist, analysis, ["set filetype=binary", f"write {raw_path} all", "quit"], options,
                       threads=self.threads)
        (run_dir / "circuit.cir").write_text(text)
        try:
            proc = processes.run([ngspice_executable(), "-b", "circuit.cir"], cwd=run_dir, text=True,
                                 timeout=time_left(deadline, self.timeout), stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            output = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            (run_dir / "ngspice.log").write_text(output)
            raise SimulationTimeout(f"ngspice did not finish within {self.timeout:g} s and was killed",
                                    netlist=text, run_dir=run_dir, output_tail=tail(output)) from None
        output = proc.stdout + "\n" + proc.stderr
        (run_dir / "ngspice.log").write_text(output)
        problem = classify(output)
        if problem is not None or not raw_path.is_file():
            kind, line = problem or ("error", f"ngspice exited with code {proc.returncode} and wrote no results")
            cls = ConvergenceError if kind == "convergence" else SimulationError
            raise cls(f"ngspice failed: {shown(netlist, line)}", netlist=text, run_dir=run_dir,
                      output_tail=tail(output))
        try:
            kind, vectors = read_raw(raw_path, deadline=deadline)
            result = make_result(kind, vectors, log=output)
        except SimulationTimeout:
            raise SimulationTimeout(f"ngspice and reading its results took more than {self.timeout:g} s; stopped",
                                    netlist=text, run_dir=run_dir, output_tail=tail(output)) from None
        except SimulationError as exc:
            raise SimulationError(exc.args[0], netlist=text, run_dir=run_dir, output_tail=tail(output)) from None
        if not self.keep_dir:
            shutil.rmtree(run_dir, ignore_errors=True)
            self.last_run_dir = None
        return result
