"""The ``spice`` and ``hybrid`` fidelities: reads (and for ``spice`` programming) in ngspice.

Reads: the whole tile (wires, frozen device I-V or resistors, access transistors, drivers, sense
amplifiers, ADC) is one netlist; a batch of ``B`` inputs is one DC sweep of the index source
(:func:`memcircuit.circuits.netlists.read_circuit`), run in a libngspice worker
(:class:`~memcircuit.spice.SharedEngine`). With ``workers > 1`` the batch is split over that many
workers running in parallel.

Programming at ``spice``: the pulse program is one ngspice transient of the whole tile
(half-selected cells included); the final states are read back from the devices' state nodes and
the programming energy is integrated from the simulated driver currents. A program with a
learning-rate stage (``PulseProgram.lr_stage``) has the cell circuit in the same transient: its
output times the drivers and its memristor takes the adaptation pulse after the array's pulses
(:func:`memcircuit.circuits.lrcell.gated_program_circuit`). The devices are the
compiled Verilog-A (OSDI) modules when OpenVAF is installed (``form="auto"``, the default), else
the behavioural B-source subcircuits: both integrate the same equations (tests hold them to each
other), and OSDI evaluates them about 8x faster (measured on a 5 x 16 tile, docs/BENCHMARKS.md).
Linear read circuits (linear or ohmic cells, ideal sense amplifiers) read a batch larger than
the number of driven lines through the effective conductance matrix W that ngspice gives with one
sweep point per driven line (cached until the cells change), so evaluating thousands of inputs on
one conductance state costs about ``rows`` sweep points; non-linear circuits keep one sweep point
per input. ``read_info`` says which path the last read took.

At ``hybrid``: every constant-voltage interval is an ngspice operating point of the tile with the
current states frozen, and the numeric twin applies the pulse at the cell voltages it gives.

The drivers of a read are external sources (libngspice asks the worker for their values at every
matrix load, point by point of the sweep), so the read netlist does not hold the inputs: it is
written and parsed once per conductance state and direction, and every later batch only sends
its values (measured in docs/BENCHMARKS.md). Two rejected alternatives: one netlist per batch
with the inputs in ``pwl(V(idx), ...)`` tables (a parse of about 0.1 s per batch at 64 x 64), and
XSPICE ``pwl`` sources changed by ``altermod`` (about 6 Newton iterations per input instead of 2,
and libngspice caps a command at 1023 characters).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from memcircuit.circuits.lrcell import STAGE_PROBES, gated_program_circuit, read_stage
from memcircuit.circuits.netlists import (
    XBAR,
    bias_circuit,
    cell_nodes,
    crossbar_circuit,
    program_circuit,
    program_drivers,
    read_analysis,
    read_circuit,
    read_sources,
    sense_vectors,
    sensed_current,
    state_vector,
    tia_nodes,
)
from memcircuit.errors import ConfigError, ModelCompileError
from memcircuit.netlist import Op
from memcircuit.spice import SharedEngine
from memcircuit.spice.engine import DEFAULT_TIMEOUT
from memcircuit.tiles.base import ProgramReport, PulseProgram
from memcircuit.tiles.crossbar_tile import CrossbarTile
from memcircuit.tiles.energy import read_energy

PROGRAM_FORMS = ("auto", "osdi", "behavioural")


class SpiceTile(CrossbarTile):
    """Reads and programming in ngspice. ``workers``: parallel ngspice workers for reads;
    ``timeout``: seconds per ngspice run; ``edge``/``gap``: pulse edge and inter-step gap (s);
    ``form``: device form of the programming transient (``"auto"``: OSDI when it compiles)."""

    fidelity = "spice"

    def __init__(self, *args, workers: int = 1, timeout: float = DEFAULT_TIMEOUT, edge: float = 1e-9,
                 gap: float = 10e-9, form: str = "auto", **kwargs) -> None:
        if not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"workers must be an integer >= 1, got {workers!r}")
        if form not in PROGRAM_FORMS:
            raise ConfigError(f"programming form must be one of {', '.join(PROGRAM_FORMS)}, got {form!r}")
        self.form = form
        self._program_form: str | None = None if form == "auto" else form
        self.workers, self.timeout, self.edge, self.gap = workers, float(timeout), float(edge), float(gap)
        self._engines: list[SharedEngine] = []
        self._reads: tuple[int, object, dict[str, object]] | None = None  # see _circuits
        self._effective: dict[str, tuple[int, np.ndarray]] = {}  # direction -> (cell version, W)
        super().__init__(*args, **kwargs)

    # -- engines -----------------------------------------------------------------------------
    def engine(self, k: int = 0) -> SharedEngine:
        """The ``k``-th libngspice worker (started on first use)."""
        while len(self._engines) <= k:
            self._engines.append(SharedEngine(timeout=self.timeout))
        return self._engines[k]

    def close(self) -> None:
        for eng in self._engines:
            eng.close()
        self._engines = []

    # -- reads -------------------------------------------------------------------------------
    def _circuits(self) -> tuple[object, dict[str, object]]:
        """(crossbar base, {direction: read netlist}) of the current cells, rebuilt when they change."""
        if self._reads is None or self._reads[0] != self._version:
            base = crossbar_circuit(self.spec, self.cells(), "frozen", "memcircuit tile read")
            self._reads = (self._version, base, {})
        return self._reads[1], self._reads[2]

    def _base_circuit(self):
        return self._circuits()[0]

    def _read_circuit(self, direction: str):
        """The read netlist of this direction, with external drivers."""
        base, reads = self._circuits()
        if direction not in reads:
            reads[direction] = read_circuit(self.spec, self.cells(), None, direction=direction, base=base)
        return reads[direction]

    def _read_chunk(self, k: int, inputs: np.ndarray, direction: str) -> tuple[np.ndarray, dict, np.ndarray]:
        """(sensed currents, energy by component, driver currents) of one shard of a batch."""
        n_out = self.cols if direction == "forward" else self.rows
        circuit = self._read_circuit(direction)
        result = self.engine(k).run(circuit, read_analysis(inputs.shape[0]), sources=read_sources(circuit, inputs))
        values = np.stack([result[name] for name in sense_vectors(self.spec, n_out)], axis=1)
        i_src = -np.stack([result[f"i({name})"] for name in circuit.external_sources], axis=1)
        v_sense = v_out = None
        if self.spec.sense == "tia":
            v_sense, v_out = (np.stack([result[f"v({node})"] for node in nodes], axis=1)
                              for nodes in tia_nodes(self.spec, direction))
        return sensed_current(self.spec, values), read_energy(self.spec, inputs, i_src, v_sense, v_out), i_src

    @property
    def linear_read(self) -> bool:
        """True when the read circuit is linear: linear or ohmic cells without access
        transistors, and ideal (0 V) sense amplifiers (a TIA saturates)."""
        return self.spec.sense == "ideal" and self.spec.cell == "1R" and (self.device is None or self.device.ohmic)

    def effective_matrices(self, direction: str) -> tuple[np.ndarray, np.ndarray]:
        """(W_sense, W_drive), S, measured by ngspice: one sweep point per driven line, each line
        alone at the read voltage. A linear read of any input ``v`` then senses ``W_sense @ v``
        and draws ``W_drive @ v`` from the drivers, equal to ngspice's own solution of that input
        (the circuit is linear). The extraction sweep is not a read of the hardware: its energy
        is not booked."""
        if not self.linear_read:
            raise ConfigError("an effective conductance matrix exists for linear cells with ideal sensing only")
        cached = self._effective.get(direction)
        if cached is None or cached[0] != self._version:
            n_in = self.rows if direction == "forward" else self.cols
            sensed, _, i_src = self._read_chunk(0, np.eye(n_in) * self.v_read, direction)
            cached = self._effective[direction] = (self._version, (sensed.T / self.v_read, i_src.T / self.v_read))
        return cached[1]

    def effective_matrix(self, direction: str) -> np.ndarray:
        """W_sense of :meth:`effective_matrices`."""
        return self.effective_matrices(direction)[0]

    def _read(self, inputs: np.ndarray, direction: str) -> np.ndarray:
        n_in = inputs.shape[1]
        cached = self._effective.get(direction)
        if self.linear_read and (inputs.shape[0] > n_in or (cached is not None and cached[0] == self._version)):
            self.read_info = {"path": "product", "reason": "linear circuit: W from one ngspice sweep point per line"}
            w_sense, w_drive = self.effective_matrices(direction)
            self._add_read(inputs, inputs @ w_drive.T)
            return inputs @ w_sense.T
        self.read_info = {"path": "sweep", "reason": ("non-linear cells or periphery" if not self.linear_read else
                                                      "batch not larger than the driven lines")}
        return self._sweep(inputs, direction)

    def _sweep(self, inputs: np.ndarray, direction: str) -> np.ndarray:
        """One ngspice DC sweep point per input (split over ``workers``)."""
        n = min(self.workers, inputs.shape[0])
        if n == 1:
            parts = [self._read_chunk(0, inputs, direction)]
        else:
            self._read_circuit(direction)  # build once, before the threads share it
            chunks = np.array_split(inputs, n)
            with ThreadPoolExecutor(n) as pool:
                parts = list(pool.map(lambda kc: self._read_chunk(kc[0], kc[1], direction), enumerate(chunks)))
        for _, energy, _ in parts:
            self.ledger.add("read", **energy)
        return np.concatenate([currents for currents, _, _ in parts], axis=0)

    # -- programming -------------------------------------------------------------------------
    def program(self, program: PulseProgram) -> ProgramReport:
        self._require_device()
        g_before = self.conductances()
        stage = program.lr_stage
        if not program.steps and (stage is None or not stage.adapts):
            return ProgramReport(g_before, g_before.copy(), 0, 0.0, extra={"fidelity": self.fidelity})
        form = self.program_form()
        circuit, tran, starts = program_circuit(self.spec, self.cells(), program.steps, edge=self.edge, gap=self.gap,
                                                form=form)
        saves = [*self._state_vectors(form), *self._driver_vectors()]
        if stage is not None:   # the learning-rate cell times the drivers in the same transient
            circuit, tran, t_hold = gated_program_circuit(circuit, tran, self.spec, program.steps, stage,
                                                          edge=self.edge, gap=self.gap)
            saves += STAGE_PROBES.values()
        # keep only what is read back: the states and the drivers (for the energy), not every
        # internal node at every time point (hundreds of MB for a 64 x 32 tile)
        result = self.engine(0).run(circuit.with_saves(*saves), tran)
        self._x = self._final_states(result, form)
        self._changed()
        extra = {"form": form, "time": result.time, "step_starts": starts, "result": result}
        if stage is not None:
            extra["lr_cell"] = read_stage(result, stage, t_hold)
        return self._program_report(g_before, program, *self._energy(result), extra)

    def program_form(self) -> str:
        """The device form the programming transients use: ``"osdi"`` or ``"behavioural"``."""
        if self._program_form is None:
            device = self._require_device()
            try:
                compiled = getattr(device, "va_path", lambda: None)() is not None and bool(device.osdi_path())
            except ModelCompileError:
                compiled = False
            self._program_form = "osdi" if compiled else "behavioural"
        return self._program_form

    def _state_vectors(self, form: str) -> list[str]:
        """Result vectors of the device states (see :meth:`_final_states`), row-major."""
        if form == "osdi":
            node = getattr(self.device, "state_node", "st").lower()   # a user's Verilog-A model names its own
            return [f"v(n.{XBAR.lower()}.nxd{i}_{j}#{node})" for i in range(self.rows) for j in range(self.cols)]
        return [state_vector(i, j) for i in range(self.rows) for j in range(self.cols)]

    def _driver_vectors(self) -> list[str]:
        """Voltages and currents of every programming driver (energy, waveform plots)."""
        return [vector for label, _, node in program_drivers(self.spec) for vector in (f"v({node})", f"i(v{label})")]

    def _final_states(self, result, form: str) -> np.ndarray:
        """Device states at the end of a programming transient.

        Behavioural devices: the state node ``v(xxbar.xd{i}_{j}.x)``. OSDI devices: ngspice keeps
        ``x - x0`` on the module's internal node, which it names ``n.xxbar.nxd{i}_{j}#st`` for an
        N instance inside a subcircuit (flattened name of the instance, then the node)."""
        last = np.array([result[name][-1] for name in self._state_vectors(form)]).reshape(self.spec.shape)
        return self._x + last if form == "osdi" else last

    def _energy(self, result) -> tuple[float, float]:
        """Energy (J) the drivers deliver, the integral of ``V_source * I_out`` over the run, and
        the part of it lost in their output resistances, the integral of ``I_out^2 r_out``."""
        t = result.time
        total = lost = 0.0
        for label, _, node in program_drivers(self.spec):
            current = -result[f"i(v{label})"]
            total += np.trapezoid(result[f"v({node})"] * current, t)
            lost += np.trapezoid(current**2, t) * self.spec.driver.r_out
        return float(total), float(lost)


class HybridTile(SpiceTile):
    """ngspice reads; programming by the numeric twin at ngspice's cell voltages."""

    fidelity = "hybrid"

    def program(self, program: PulseProgram) -> ProgramReport:
        return CrossbarTile.program(self, program)

    def _bias(self, row_v: np.ndarray, col_v: np.ndarray) -> tuple[np.ndarray, float, float]:
        result = self.engine(0).run(bias_circuit(self.spec, self.cells(), row_v, col_v), Op())
        v = np.empty(self.spec.shape)
        for i in range(self.rows):
            for j in range(self.cols):
                top, bottom = cell_nodes(self.spec, i, j)
                v[i, j] = result.scalar(top) - result.scalar(bottom)
        drive = np.concatenate([row_v, col_v])
        currents = np.array([-result.scalar(f"i(v{label})") for label, _, _ in program_drivers(self.spec)])
        return v, float(np.sum(drive * currents)), float(np.sum(currents**2)) * self.spec.driver.r_out
