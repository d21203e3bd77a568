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

At ``hybrid``: every constant-voltage interval is an ngspice DC solution of the tile at the
states of that moment, and the numeric twin applies the pulse at the cell voltages it gives. With
the states as external sources the intervals of a program are the points of one followed DC sweep
(:meth:`SpiceSolver.bias_each`): 12x faster than an operating point per interval on a 16 x 16
tile, and faster than the ``spice`` transient (docs/BENCHMARKS.md, "Hybrid programming").

The drivers of a read are external sources (libngspice asks the worker for their values at every
matrix load, point by point of the sweep), so the read netlist does not hold the inputs: it is
written and parsed once per conductance state and direction, and every later batch only sends
its values (measured in docs/BENCHMARKS.md). Two rejected alternatives: one netlist per batch
with the inputs in ``pwl(V(idx), ...)`` tables (a parse of about 0.1 s per batch at 64 x 64), and
XSPICE ``pwl`` sources changed by ``altermod`` (about 6 Newton iterations per input instead of 2,
and libngspice caps a command at 1023 characters).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from memcircuit.circuits.lrcell import STAGE_PROBES, gated_program_circuit, read_stage
from memcircuit.circuits.netlists import (
    bias_circuit,
    cell_terminal_probes,
    crossbar_circuit,
    driver_probes,
    program_circuit,
    read_analysis,
    read_circuit,
    read_probes,
    read_sources,
    sensed_current,
    state_probes,
)
from memcircuit.errors import ConfigError, ConvergenceError, ModelCompileError
from memcircuit.fidelity import Fidelity
from memcircuit.netlist.probes import vector
from memcircuit.tiles.base import ProgramReport, PulseProgram
from memcircuit.tiles.crossbar_tile import CrossbarTile
from memcircuit.tiles.energy import read_energy
from memcircuit.tiles.parts import Programmer, TileSolver
from memcircuit.tiles.programming import TwinProgrammer

PROGRAM_FORMS = ("auto", "osdi", "behavioural")


class SpiceSolver(TileSolver):
    """Reads and programming biases in ngspice (the tile's libngspice workers)."""

    name = "spice"
    uses_ngspice = True

    def __init__(self, tile) -> None:
        super().__init__(tile)
        self._reads: tuple[int, object, dict[str, object]] | None = None  # see _circuits
        self._effective: dict[str, tuple[int, np.ndarray]] = {}  # direction -> (cell version, W)
        self._bias_cache: tuple | None = None

    # -- reads -------------------------------------------------------------------------------
    def _circuits(self) -> tuple[object, dict[str, object]]:
        """(crossbar base, {direction: read netlist}) of the current cells, rebuilt when they change."""
        tile = self.tile
        if self._reads is None or self._reads[0] != tile._version:
            base = crossbar_circuit(tile.spec, tile.cells(), "frozen", "memcircuit tile read")
            self._reads = (tile._version, base, {})
        return self._reads[1], self._reads[2]

    def base_circuit(self):
        """The crossbar part of the read netlists at the present cells."""
        return self._circuits()[0]

    def read_circuit(self, direction: str):
        """The read netlist of this direction, with external drivers."""
        base, reads = self._circuits()
        if direction not in reads:
            reads[direction] = read_circuit(self.tile.spec, self.tile.cells(), None, direction=direction, base=base)
        return reads[direction]

    def _read_chunk(self, k: int, inputs: np.ndarray, direction: str) -> tuple[np.ndarray, dict, np.ndarray]:
        """(sensed currents, energy by component, driver currents) of one shard of a batch."""
        spec = self.tile.spec
        circuit = self.read_circuit(direction)
        probes = read_probes(spec, direction)
        result = self.tile.engine(k).run(circuit, read_analysis(inputs.shape[0]), sources=read_sources(circuit, inputs))
        values = np.stack([result[p] for p in probes.sensed], axis=1)
        i_src = -np.stack([result[p] for p in probes.drivers], axis=1)
        v_sense = v_out = None
        if probes.tia_in:
            v_sense, v_out = (np.stack([result[p] for p in group], axis=1) for group in (probes.tia_in, probes.tia_out))
        return sensed_current(spec, values), read_energy(spec, inputs, i_src, v_sense, v_out), i_src

    def effective_matrices(self, direction: str) -> tuple[np.ndarray, np.ndarray]:
        """(W_sense, W_drive), S, measured by ngspice: one sweep point per driven line, each line
        alone at the read voltage. A linear read of any input ``v`` then senses ``W_sense @ v``
        and draws ``W_drive @ v`` from the drivers, equal to ngspice's own solution of that input
        (the circuit is linear). The extraction sweep is not a read of the hardware: its energy
        is not booked."""
        tile = self.tile
        cached = self._effective.get(direction)
        if cached is None or cached[0] != tile._version:
            n_in = tile.rows if direction == "forward" else tile.cols
            sensed, _, i_src = self._read_chunk(0, np.eye(n_in) * tile.v_read, direction)
            cached = self._effective[direction] = (tile._version, (sensed.T / tile.v_read, i_src.T / tile.v_read))
        return cached[1]

    def read(self, inputs: np.ndarray, direction: str) -> np.ndarray:
        tile = self.tile
        n_in = inputs.shape[1]
        cached = self._effective.get(direction)
        if tile.linear_read and (inputs.shape[0] > n_in or (cached is not None and cached[0] == tile._version)):
            tile.read_info = {"path": "product", "reason": "linear circuit: W from one ngspice sweep point per line"}
            w_sense, w_drive = tile.effective_matrices(direction)
            tile._add_read(inputs, inputs @ w_drive.T)
            return inputs @ w_sense.T
        tile.read_info = {"path": "sweep", "reason": ("non-linear cells or periphery" if not tile.linear_read else
                                                      "batch not larger than the driven lines")}
        return self.sweep(inputs, direction)

    def sweep(self, inputs: np.ndarray, direction: str) -> np.ndarray:
        """One ngspice DC sweep point per input (split over the tile's ``workers``)."""
        n = min(self.tile.workers, inputs.shape[0])
        if n == 1:
            parts = [self._read_chunk(0, inputs, direction)]
        else:
            self.read_circuit(direction)  # build once, before the threads share it
            chunks = np.array_split(inputs, n)
            with ThreadPoolExecutor(n) as pool:
                parts = list(pool.map(lambda kc: self._read_chunk(kc[0], kc[1], direction), enumerate(chunks)))
        for _, energy, _ in parts:
            self.tile.ledger.add("read", **energy)
        return np.concatenate([currents for currents, _, _ in parts], axis=0)

    # -- programming biases ------------------------------------------------------------------
    def _bias_circuit(self):
        """The bias netlist with every driver an external source; only the cell terminals and
        driver currents are saved. Devices whose read form takes the state from a port
        (:attr:`DeviceModel.state_port`) get the states as external sources too: one netlist for
        the tile, parsed once, any state fed as values. Others hold the present states in the
        netlist: one per cell state."""
        tile = self.tile
        held = tile.device is not None and tile.device.state_port
        cached = self._bias_cache
        if cached is None or (not held and cached[0] != tile._version):
            circuit = bias_circuit(tile.spec, tile.cells(), None, None, held_states=held)
            top, bottom = cell_terminal_probes(circuit)
            currents = [current for _, current in driver_probes(tile.spec)]
            circuit = circuit.with_saves(*dict.fromkeys(top + bottom), *currents)
            cached = self._bias_cache = (tile._version, circuit, top, bottom, currents, held)
        return cached[1:]

    def _bias_terms(self, drive: np.ndarray, v_cell: np.ndarray, i_out: np.ndarray):
        """(cell voltages (..., rows, cols) V, driver power (...) W, its loss in the output
        resistances (...) W) of driver settings (..., drivers) from the solved cell voltages
        (..., cells) and the current out of each driver (..., drivers)."""
        power = np.sum(drive * i_out, axis=-1)
        lost = np.sum(i_out**2, axis=-1) * self.tile.spec.driver.r_out
        return v_cell.reshape(*v_cell.shape[:-1], *self.tile.spec.shape), power, lost

    def bias_many(self, drives: list[tuple[np.ndarray, np.ndarray]]) -> Iterator[tuple[np.ndarray, float, float]]:
        tile = self.tile
        circuit, top, bottom, currents, held = self._bias_circuit()
        drive = np.array([np.concatenate(d) for d in drives])
        values = np.hstack([drive, np.broadcast_to(tile._x.ravel(), (drive.shape[0], tile._x.size))]) if held else drive
        result = tile.engine(0).run(circuit, read_analysis(drive.shape[0]), sources=read_sources(circuit, values))
        v = np.stack([result[p] for p in top], axis=1) - np.stack([result[p] for p in bottom], axis=1)
        v, power, lost = self._bias_terms(drive, v, -np.stack([result[c] for c in currents], axis=1))
        yield from zip(v, power.tolist(), lost.tolist())

    def bias_each(self, drives: list[tuple[np.ndarray, np.ndarray]]) -> Iterator[tuple[np.ndarray, float, float]]:
        """With the states as external sources (devices with a state port), one followed DC sweep
        of all the settings: each point gets the drive and the states of that moment
        (:meth:`~memcircuit.spice.SharedEngine.feedback_sweep`), so a pulse program costs one
        analysis set-up instead of an operating point per interval. Otherwise, and for the rest
        of a sweep that fails to converge, an operating point per setting (with the engine's
        convergence remedies)."""
        tile = self.tile
        circuit, top, bottom, currents, held = self._bias_circuit()
        if not held or not drives:
            yield from super().bias_each(drives)
            return
        wanted = list(dict.fromkeys(vector(p) for p in (*top, *bottom, *currents)))
        at = {name: k for k, name in enumerate(wanted)}
        i_top, i_bottom, i_cur = ([at[vector(p)] for p in group] for group in (top, bottom, currents))
        drive = np.array([np.concatenate(d) for d in drives])

        def values(k: int) -> np.ndarray:  # the drive and the states of this moment
            return np.concatenate([drive[k], tile._x.ravel()])

        done = 0
        try:
            with tile.engine(0).feedback_sweep(circuit, read_analysis(len(drives)), wanted, values(0)) as sweep:
                for k in range(len(drives)):
                    got = sweep.point()
                    v, power, lost = self._bias_terms(drive[k], got[i_top] - got[i_bottom], -got[i_cur])
                    done += 1
                    yield v, float(power), float(lost)
                    if k + 1 < len(drives):
                        sweep.feed(values(k + 1))
        except ConvergenceError:
            yield from super().bias_each(drives[done:])

    def bias(self, row_v: np.ndarray, col_v: np.ndarray) -> tuple[np.ndarray, float, float]:
        return next(self.bias_many([(row_v, col_v)]))


class TransientProgrammer(Programmer):
    """A pulse program as one ngspice transient of the whole tile (see the module doc).
    ``edge``/``gap``: pulse edge and inter-step gap (s); ``form``: device form of the
    transient (``"auto"``: the compiled Verilog-A when it compiles, else behavioural)."""

    name = "transient"
    uses_ngspice = True
    OPTIONS = ("edge", "gap", "form")

    def __init__(self, edge: float = 1e-9, gap: float = 10e-9, form: str = "auto") -> None:
        if form not in PROGRAM_FORMS:
            raise ConfigError(f"programming form must be one of {', '.join(PROGRAM_FORMS)}, got {form!r}")
        self.edge, self.gap, self.form = float(edge), float(gap), form
        self._form: str | None = None if form == "auto" else form

    def program(self, tile, program: PulseProgram) -> ProgramReport:
        g_before = tile.conductances()
        stage = program.lr_stage
        if not program.steps and (stage is None or not stage.adapts):
            return ProgramReport(g_before, g_before.copy(), 0, 0.0, extra={"fidelity": tile.fidelity})
        form = self.device_form(tile.device)
        circuit, tran, starts = program_circuit(tile.spec, tile.cells(), program.steps, edge=self.edge, gap=self.gap,
                                                form=form)
        # keep only what is read back: the states and the drivers (for the energy), not every
        # internal node at every time point (hundreds of MB for a 64 x 32 tile)
        states = state_probes(circuit)
        drivers = driver_probes(tile.spec)
        saves = [*states, *(p for pair in drivers for p in pair)]
        if stage is not None:   # the learning-rate cell times the drivers in the same transient
            circuit, tran, t_hold = gated_program_circuit(circuit, tran, tile.spec, program.steps, stage,
                                                          edge=self.edge, gap=self.gap)
            saves += STAGE_PROBES.values()
        result = tile.engine(0).run(circuit.with_saves(*saves), tran)
        # a compiled module's state node holds x - x0: its probe adds x0 back
        tile._x = np.array([result[p][-1] for p in states]).reshape(tile.spec.shape)
        tile._changed()
        extra = {"form": form, "time": result.time, "step_starts": starts, "result": result}
        if stage is not None:
            extra["lr_cell"] = read_stage(result, stage, t_hold)
        return tile._program_report(g_before, program, *self._energy(tile, result, drivers), extra)

    def device_form(self, device) -> str:
        """The device form of the transients: ``"osdi"`` or ``"behavioural"``."""
        if self._form is None:
            try:
                compiled = device.va_path() is not None and bool(device.osdi_path())
            except ModelCompileError:
                compiled = False
            self._form = "osdi" if compiled else "behavioural"
        return self._form

    @staticmethod
    def _energy(tile, result, drivers) -> tuple[float, float]:
        """Energy (J) the drivers deliver, the integral of ``V_source * I_out`` over the run, and
        the part of it lost in their output resistances, the integral of ``I_out^2 r_out``."""
        t = result.time
        total = lost = 0.0
        for voltage, current in drivers:
            i_out = -result[current]
            total += np.trapezoid(result[voltage] * i_out, t)
            lost += np.trapezoid(i_out**2, t) * tile.spec.driver.r_out
        return float(total), float(lost)


class SpiceTile(CrossbarTile):
    """ngspice solver and ngspice transient programmer. ``workers``: parallel ngspice workers
    for reads; ``timeout``: seconds per ngspice run; ``edge``, ``gap``, ``form``: see
    :class:`TransientProgrammer`."""

    fidelity = Fidelity.SPICE
    solver_class = SpiceSolver
    programmer_class = TransientProgrammer


class HybridTile(CrossbarTile):
    """ngspice solver and numeric-twin programmer at ngspice's cell voltages."""

    fidelity = Fidelity.HYBRID
    solver_class = SpiceSolver
    programmer_class = TwinProgrammer
