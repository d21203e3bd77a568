"""What every fidelity shares: the cell state, input checks, and the numeric-twin programming loop.

A :class:`CrossbarTile` holds either linear conductances ``g`` (S) or a memristor model with
per-cell states ``x``. Subclasses supply the circuit solution:

* ``_read(inputs, direction)``: (batch, lines) V -> (batch, sensed lines) A;
* ``_bias(row_v, col_v)``: DC drivers on every row and column -> (cell voltages (rows, cols) V,
  power the drivers deliver, the part of it lost in their output resistances, W).

The default :meth:`program` applies every constant-voltage interval of every pulse step with the
device's numeric twin (``apply_pulse``) at the cell voltages ``_bias`` gives at the start of the
interval (the ``hybrid``, ``numeric`` and ``ideal`` rows of the fidelity table in
docs/DESIGN.md). Reads and programming book what they used in the tile's
:class:`~memcircuit.tiles.energy.EnergyLedger`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from memcircuit.circuits.crossbar import check_matrix
from memcircuit.circuits.drivers import dac_quantise
from memcircuit.circuits.netlists import Cells
from memcircuit.circuits.spec import CrossbarSpec
from memcircuit.devices.base import DeviceModel
from memcircuit.errors import ConfigError
from memcircuit.tiles.base import ProgramReport, PulseProgram, Tile
from memcircuit.tiles.energy import read_energy
from memcircuit.tiles.programming import count_pulses, segments


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
    the IR drops change by that part; compared with ``"interval"`` in docs/BENCHMARKS.md).
    """

    fidelity = ""
    BIAS_REFRESH = ("interval", "program")

    def __init__(self, spec: CrossbarSpec, *, device: DeviceModel | None = None, g: np.ndarray | None = None,
                 states: np.ndarray | None = None, v_read: float = 0.1, seed: int | None = 0,
                 rng: np.random.Generator | None = None, substeps: int = 1, bias_refresh: str = "interval") -> None:
        super().__init__(spec.rows, spec.cols)
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
        out = self._read(arr, "forward") if arr.shape[0] else np.zeros((0, self.cols))
        return out[0] if single else out

    def read_t(self, e: np.ndarray) -> np.ndarray:
        arr, single = self._inputs(e, self.cols, "read_t")
        out = self._read(arr, "backward") if arr.shape[0] else np.zeros((0, self.rows))
        return out[0] if single else out

    def _read(self, inputs: np.ndarray, direction: str) -> np.ndarray:
        raise NotImplementedError

    # -- programming -------------------------------------------------------------------------
    def _bias(self, row_v: np.ndarray, col_v: np.ndarray) -> tuple[np.ndarray, float, float]:
        raise NotImplementedError

    def _bias_many(self, drives: list[tuple[np.ndarray, np.ndarray]]) -> Iterator[tuple[np.ndarray, float, float]]:
        """:meth:`_bias` of several driver settings at the cell state of the first call (batched
        solves where the fidelity has them), yielded in order."""
        for rows, cols in drives:
            yield self._bias(rows, cols)

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

    def _direct_bias(self, row_v: np.ndarray, col_v: np.ndarray) -> tuple[np.ndarray, float, float]:
        """Cell voltages ``V_row_i - V_col_j``, the power the drivers deliver, ``sum v i(v)`` (W),
        and none lost in them.

        Exact when nothing sits between the drivers and the cells (no wire or driver resistance,
        no access transistor): every node of a line is then the driver's node."""
        v = row_v[:, None] - col_v[None, :]
        return v, float(np.sum(v * self._cell_current(v))), 0.0

    @property
    def parasitic_free(self) -> bool:
        """True when the programming bias needs no circuit solve (see :meth:`_direct_bias`)."""
        return self.spec.ideal_wires and self.spec.driver.r_out == 0 and self.spec.cell == "1R"

    @property
    def batched_bias(self) -> bool:
        """True when pulse programs solve the bias of all their intervals in batches at their
        starting states (``bias_refresh="program"``, one substep, a circuit to solve)."""
        return self.bias_refresh == "program" and self.substeps == 1 and not self.parasitic_free

    def _require_device(self) -> DeviceModel:
        if self.device is None:
            raise ConfigError("linear-resistor cells cannot be programmed; build the tile with a device model")
        return self.device

    def program(self, program: PulseProgram) -> ProgramReport:
        device = self._require_device()
        g_before = self.conductances()
        energy = lost = 0.0
        for k, step in enumerate(program.steps):
            if step.rows.size != self.rows or step.cols.size != self.cols:
                raise ConfigError(f"pulse step {k} drives {step.rows.size} rows x {step.cols.size} cols; "
                                  f"the tile has {self.rows} x {self.cols}")
        intervals = [seg for step in program.steps for seg in segments(step)]
        lagged = None
        if self.batched_bias:
            lagged = self._bias_many([(rows, cols) for _, rows, cols in intervals])
        for duration, rows, cols in intervals:
            dt = duration / self.substeps
            for _ in range(self.substeps):
                v_cell, power, loss = next(lagged) if lagged is not None else self._bias(rows, cols)
                energy += power * dt
                lost += loss * dt
                hit = v_cell != 0
                if hit.any():
                    # whole-array call (per-cell device parameters broadcast); cells at 0 V keep
                    # their state
                    moved = device.apply_pulse(self._x, v_cell, dt, rng=self.rng)
                    self._x = np.where(hit, moved, self._x)
                    self._changed()
        return self._program_report(g_before, program, energy, lost, {})
