"""A crossbar tile: its circuit's spec, the cells, a solver and a programmer.

A :class:`CrossbarTile` holds either linear conductances ``g`` (S) or a memristor model with
per-cell states ``x``, and is composed of two parts (:mod:`memcircuit.tiles.parts`): a
:class:`~memcircuit.tiles.parts.TileSolver` that solves its circuit at DC (reads, effective
matrices, programming biases) and a :class:`~memcircuit.tiles.parts.Programmer` that applies
pulse programs. A fidelity names one pair (``solver_class``, ``programmer_class``); the tile
owns the ngspice workers the parts share. Reads and programming book what they used in the
tile's :class:`~memcircuit.tiles.energy.EnergyLedger`.
"""

from __future__ import annotations

import numpy as np

from memcircuit.circuits.crossbar import check_matrix
from memcircuit.circuits.drivers import dac_quantise
from memcircuit.circuits.netlists import Cells
from memcircuit.circuits.spec import CrossbarSpec
from memcircuit.devices.base import DeviceModel
from memcircuit.errors import ConfigError
from memcircuit.spice import SharedEngine
from memcircuit.spice.engine import DEFAULT_TIMEOUT
from memcircuit.tiles.base import ProgramReport, PulseProgram, Tile
from memcircuit.tiles.energy import read_energy
from memcircuit.tiles.parts import Programmer, TileSolver
from memcircuit.tiles.programming import check_shape, count_pulses


def invert_conductance(device: DeviceModel, g: np.ndarray, v_read: float) -> np.ndarray:
    """States whose chord conductance at ``v_read`` V is ``g`` (S), by bisection over the
    device's state range (the conductance must be monotonic in the state)."""
    g = np.asarray(g, dtype=float)
    lo = np.full(g.shape, float(device.x_min))
    hi = np.full(g.shape, float(device.x_max))
    g_lo, g_hi = device.conductance(lo, v_read), device.conductance(hi, v_read)
    rising = bool(np.all(g_hi >= g_lo))
    g_min, g_max = float(np.min(np.minimum(g_lo, g_hi))), float(np.max(np.maximum(g_lo, g_hi)))
    if np.any(g < g_min * (1 - 1e-9)) or np.any(g > g_max * (1 + 1e-9)):
        raise ConfigError(f"conductances must lie in the device range {g_min:.4g} .. {g_max:.4g} S "
                          f"(at {v_read} V), got {np.min(g):.4g} .. {np.max(g):.4g} S")
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        above = device.conductance(mid, v_read) > g
        if rising:
            hi, lo = np.where(above, mid, hi), np.where(above, lo, mid)
        else:
            lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    return 0.5 * (lo + hi)


class CrossbarTile(Tile):
    """A crossbar of :class:`CrossbarSpec` with linear or memristor cells (see module doc).

    ``g``: linear conductances, or the initial conductances of memristor cells; ``states``:
    initial device states (default: ``g`` if given, else mid-range); ``v_read``: the read
    voltage (V) at which :meth:`conductances` are defined; ``seed``/``rng``: programming noise;
    ``substeps``: numeric-twin programming re-solves the cell voltages this many times per
    constant-voltage interval (1 = once at its start), to follow IR drops that change as the
    cells switch; ``bias_refresh``: when the numeric-twin programming solves the circuit for the
    cell voltages: ``"interval"`` (at the start of every constant-voltage interval, at the states
    of that moment) or ``"program"`` (every interval of a pulse program in batched solves at the
    states of the program's start: one update moves the cells by a small part of their range, so
    the IR drops change by that part; compared with ``"interval"`` in docs/BENCHMARKS.md). None:
    the tile class's ``default_bias_refresh`` (``"interval"``).
    """

    fidelity = ""
    solver_class: type[TileSolver]
    programmer_class: type[Programmer]
    BIAS_REFRESH = ("interval", "program")
    default_bias_refresh = "interval"

    def __init__(self, spec: CrossbarSpec, *, device: DeviceModel | None = None, g: np.ndarray | None = None,
                 states: np.ndarray | None = None, v_read: float = 0.1, seed: int | None = 0,
                 rng: np.random.Generator | None = None, substeps: int = 1, bias_refresh: str | None = None,
                 workers: int = 1, timeout: float = DEFAULT_TIMEOUT, **programmer_options) -> None:
        super().__init__(spec.rows, spec.cols)
        self.uses_ngspice = self.solver_class.uses_ngspice or self.programmer_class.uses_ngspice
        if not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"workers must be an integer >= 1, got {workers!r}")
        if (workers != 1 or timeout != DEFAULT_TIMEOUT) and not self.uses_ngspice:
            raise ConfigError(f"workers and timeout are ngspice options; the {self.fidelity} fidelity runs no ngspice")
        unknown = set(programmer_options) - set(self.programmer_class.OPTIONS)
        if unknown:
            raise ConfigError(f"unknown tile option(s) for the {self.fidelity} fidelity: {', '.join(sorted(unknown))}")
        self.workers, self.timeout = workers, float(timeout)
        self._engines: list[SharedEngine] = []
        bias_refresh = self.default_bias_refresh if bias_refresh is None else bias_refresh
        if bias_refresh not in self.BIAS_REFRESH:
            raise ConfigError(f"bias_refresh must be one of {', '.join(self.BIAS_REFRESH)}, got {bias_refresh!r}")
        self.bias_refresh = bias_refresh
        if not v_read > 0:
            raise ConfigError(f"read voltage must be > 0 V, got {v_read}")
        if not isinstance(substeps, int) or substeps < 1:
            raise ConfigError(f"substeps must be an integer >= 1, got {substeps!r}")
        self.substeps = substeps
        self.spec, self.device, self.v_read = spec, device, float(v_read)
        self.rng = rng if rng is not None else np.random.default_rng(seed)
        self._version = 0
        self._g: np.ndarray | None = None
        self._x: np.ndarray | None = None
        if device is None:
            if states is not None:
                raise ConfigError("states need a device model; linear cells take conductances g")
            if g is None:
                raise ConfigError("linear-resistor cells need a conductance matrix g (S)")
            self.set_conductances(g)
        elif states is not None:
            self.set_states(states)
        elif g is not None:
            self.set_conductances(g)
        else:
            self.set_states(np.full(spec.shape, 0.5 * (device.x_min + device.x_max)))
        self.solver = self.solver_class(self)
        self.programmer = self.programmer_class(**programmer_options)

    # -- ngspice workers shared by the parts --------------------------------------------------
    def engine(self, k: int = 0) -> SharedEngine:
        """The ``k``-th libngspice worker (started on first use)."""
        while len(self._engines) <= k:
            self._engines.append(SharedEngine(timeout=self.timeout))
        return self._engines[k]

    def close(self) -> None:
        for eng in self._engines:
            eng.close()
        self._engines = []

    # -- state ------------------------------------------------------------------------------
    def _changed(self) -> None:
        self._version += 1

    def cells(self) -> Cells:
        """The cell contents in the form the netlist generators take."""
        return Cells(g=self._g, device=self.device, states=self._x)

    def conductances(self) -> np.ndarray:
        if self.device is None:
            return self._g.copy()
        return np.asarray(self.device.conductance(self._x, self.v_read), dtype=float)

    def set_conductances(self, g: np.ndarray) -> None:
        g = check_matrix("conductance matrix", g, self.spec)
        if self.device is None:
            self._g = g.copy()
        else:
            self._x = invert_conductance(self.device, g, self.v_read)
        self._changed()

    def states(self) -> np.ndarray | None:
        return None if self._x is None else self._x.copy()

    def set_states(self, x: np.ndarray) -> None:
        if self.device is None:
            raise ConfigError("linear-resistor cells have no device states")
        self._x = check_matrix("device states", x, self.spec, nonnegative=False).copy()
        self._changed()

    # -- reads -------------------------------------------------------------------------------
    def _inputs(self, v: np.ndarray, n: int, what: str) -> tuple[np.ndarray, bool]:
        arr = np.asarray(v, dtype=float)
        single = arr.ndim == 1
        arr = np.atleast_2d(arr)
        if arr.ndim != 2 or arr.shape[1] != n:
            raise ConfigError(f"{what} needs (batch, {n}) volts, got shape {np.shape(v)}")
        if not np.all(np.isfinite(arr)):
            raise ConfigError(f"{what} voltages must be finite")
        return dac_quantise(arr, self.spec.driver), single

    def read(self, v: np.ndarray) -> np.ndarray:
        arr, single = self._inputs(v, self.rows, "read")
        out = self.solver.read(arr, "forward") if arr.shape[0] else np.zeros((0, self.cols))
        return out[0] if single else out

    def read_t(self, e: np.ndarray) -> np.ndarray:
        arr, single = self._inputs(e, self.cols, "read_t")
        out = self.solver.read(arr, "backward") if arr.shape[0] else np.zeros((0, self.rows))
        return out[0] if single else out

    def _add_read(self, v_src: np.ndarray, i_src: np.ndarray, v_sense: np.ndarray | None = None,
                  v_out: np.ndarray | None = None) -> None:
        """Book a read's energy (:func:`~memcircuit.tiles.energy.read_energy`)."""
        self.ledger.add("read", **read_energy(self.spec, v_src, i_src, v_sense, v_out))

    def _program_report(self, g_before: np.ndarray, program: PulseProgram, delivered: float, lost: float,
                        extra: dict) -> ProgramReport:
        """The report of a programming run whose drivers delivered ``delivered`` J, ``lost`` J of
        it in their output resistances (booked in the ledger)."""
        parts = {"drivers": lost, "array": delivered - lost}
        self.ledger.add("program", **parts)
        return ProgramReport(g_before, self.conductances(), count_pulses(program), delivered,
                             extra={"fidelity": self.fidelity, **extra}, energy_parts=parts)

    def _cell_current(self, v: np.ndarray) -> np.ndarray:
        """Current (A) through every cell for cell voltages ``v`` (..., rows, cols) V."""
        if self.device is None:
            return v * self._g
        x = self._x if self._x.shape == v.shape else np.broadcast_to(self._x, v.shape)
        return self.device.current(v, x)

    def direct_bias(self, row_v: np.ndarray, col_v: np.ndarray) -> tuple[np.ndarray, float, float]:
        """Cell voltages ``V_row_i - V_col_j``, the power the drivers deliver, ``sum v i(v)`` (W),
        and none lost in them.

        Exact when nothing sits between the drivers and the cells (no wire or driver resistance,
        no access transistor): every node of a line is then the driver's node."""
        v = row_v[:, None] - col_v[None, :]
        return v, float(np.sum(v * self._cell_current(v))), 0.0

    @property
    def linear_read(self) -> bool:
        """True when the read circuit is linear: linear or ohmic cells without access
        transistors, and ideal (0 V) sense amplifiers (a TIA saturates)."""
        return self.spec.sense == "ideal" and self.spec.cell == "1R" and (self.device is None or self.device.ohmic)

    def _require_linear_read(self) -> None:
        if not self.linear_read:
            raise ConfigError("an effective conductance matrix exists for linear cells with ideal sensing only")

    def effective_matrices(self, direction: str) -> tuple[np.ndarray, np.ndarray]:
        """(W_sense (sensed lines, driven lines), W_drive (driven lines, driven lines)), S: a
        read of any input ``v`` in ``direction`` senses ``W_sense @ v`` and draws ``W_drive @ v``
        from the drivers, IR drop included, while the cells do not change (linear reads only)."""
        self._require_linear_read()
        return self.solver.effective_matrices(direction)

    def effective_matrix(self, direction: str) -> np.ndarray:
        """W_sense of :meth:`effective_matrices`."""
        return self.effective_matrices(direction)[0]

    @property
    def parasitic_free(self) -> bool:
        """True when the programming bias needs no circuit solve (see :meth:`direct_bias`)."""
        return self.spec.ideal_wires and self.spec.driver.r_out == 0 and self.spec.cell == "1R"

    @property
    def batched_bias(self) -> bool:
        """True when pulse programs solve the bias of all their intervals in batches at their
        starting states (``bias_refresh="program"``, one substep, a circuit to solve: ngspice's,
        or a nodal one with wire or driver resistance)."""
        return self.bias_refresh == "program" and self.substeps == 1 and \
            (self.solver.uses_ngspice or not self.parasitic_free)

    def _require_device(self) -> DeviceModel:
        if self.device is None:
            raise ConfigError("linear-resistor cells cannot be programmed; build the tile with a device model")
        return self.device

    def program(self, program: PulseProgram) -> ProgramReport:
        self._require_device()
        check_shape(program, self.rows, self.cols)
        return self.programmer.program(self, program)
