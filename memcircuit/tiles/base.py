"""The Tile interface: a crossbar with its periphery, at one of four fidelities.

``read(V)``: forward pass. ``V`` is (batch, rows) volts on the row drivers; returns (batch, cols)
amperes flowing into the column ends (sense-amp inputs).
``read_t(E)``: backward pass. ``E`` is (batch, cols) volts on the column drivers with rows sensed
at virtual ground; returns (batch, rows) amperes flowing into the row ends.
``program(program)``: applies a :class:`PulseProgram` and returns a :class:`ProgramReport`.
``conductances()``: (rows, cols) siemens at the read voltage.

Fidelities (docs/DESIGN.md): ``spice`` (everything in ngspice), ``hybrid`` (ngspice solve, numeric
device update), ``numeric`` (own sparse nodal solver + numeric twin), ``ideal`` (G @ V).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from memcircuit.fidelity import FIDELITIES, Fidelity  # noqa: F401 (FIDELITIES: where callers found it before)
from memcircuit.tiles.energy import EnergyLedger

if TYPE_CHECKING:
    from memcircuit.circuits.lrcell import LrStage


@dataclass(frozen=True)
class PulseStep:
    """One programming step: every row and column driver fires one rectangular pulse.

    All pulses start together at the beginning of the step. ``rows``/``cols`` are driver
    amplitudes in V, ``row_widths``/``col_widths`` their durations in s (a scalar width applies to
    all). Cell (i, j) sees ``V_row_i(t) - V_col_j(t)``; an undriven line sits at 0 V. This covers
    V/2 and V/3 half-select schemes and Soudry-style outer-product updates (amplitude on one side,
    duration on the other).
    """

    rows: np.ndarray
    cols: np.ndarray
    row_widths: np.ndarray | float
    col_widths: np.ndarray | float

    def __post_init__(self) -> None:
        for name in ("rows", "cols"):
            arr = np.asarray(getattr(self, name), dtype=float)
            if arr.ndim != 1 or not np.all(np.isfinite(arr)):
                raise ValueError(f"PulseStep.{name} must be a 1-D finite array of volts")
            object.__setattr__(self, name, arr)
        for name, n in (("row_widths", self.rows.size), ("col_widths", self.cols.size)):
            given = np.asarray(getattr(self, name), dtype=float)
            if given.ndim > 1 or given.size not in (1, n):
                raise ValueError(f"PulseStep.{name} must be one width (s) or {n} widths, one per line; "
                                 f"got {given.size}")
            arr = np.broadcast_to(given.reshape(-1) if given.ndim else given, (n,)).copy()
            if np.any(arr < 0) or not np.all(np.isfinite(arr)):
                raise ValueError(f"PulseStep.{name} must be finite and >= 0 s")
            object.__setattr__(self, name, arr)

    @property
    def duration(self) -> float:
        return float(max(self.row_widths.max(initial=0.0), self.col_widths.max(initial=0.0)))


@dataclass(frozen=True)
class PulseProgram:
    """A sequence of :class:`PulseStep` applied one after another.

    ``lr_stage``: a learning-rate cell that times the drivers of this program (every pulse width
    times its width factor) and takes its adaptation pulse after them
    (:class:`~memcircuit.circuits.lrcell.LrStage`); the report's ``extra["lr_cell"]`` then holds
    the cell's new state, the width factor and the stage's energy. Not part of the JSON form."""

    steps: tuple[PulseStep, ...]
    lr_stage: LrStage | None = None

    def to_json(self) -> dict:
        return {"steps": [{"rows": s.rows.tolist(), "cols": s.cols.tolist(),
                           "row_widths": s.row_widths.tolist(), "col_widths": s.col_widths.tolist()}
                          for s in self.steps]}

    @classmethod
    def from_json(cls, data: dict) -> PulseProgram:
        try:
            return cls(tuple(PulseStep(np.asarray(s["rows"]), np.asarray(s["cols"]),
                                       np.asarray(s["row_widths"]), np.asarray(s["col_widths"]))
                             for s in data["steps"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"pulse program JSON needs steps with rows, cols, row_widths, col_widths ({exc})") \
                from None


@dataclass
class ProgramReport:
    """What a program did: conductances before/after (S), pulses fired, energy (J) the drivers
    delivered where simulated, and its split (``energy_parts``: ``drivers`` output resistances,
    ``array`` cells and wires; :mod:`memcircuit.tiles.energy`)."""

    g_before: np.ndarray
    g_after: np.ndarray
    pulses: int
    energy_j: float | None = None
    extra: dict = field(default_factory=dict)
    energy_parts: dict = field(default_factory=dict)


class Tile(abc.ABC):
    """A rows x cols crossbar with drivers and sense amplifiers at one fidelity."""

    fidelity: Fidelity | str = ""

    def __init__(self, rows: int, cols: int) -> None:
        if rows < 1 or cols < 1:
            raise ValueError("a tile needs at least one row and one column")
        self.rows, self.cols = rows, cols
        self.ledger = EnergyLedger()
        # how the last read was computed: {"path": "product" | "solve" | "sweep", "reason": ...}
        self.read_info: dict[str, str] = {}

    @abc.abstractmethod
    def read(self, v: np.ndarray) -> np.ndarray:
        """Forward read: (batch, rows) V -> (batch, cols) A."""

    @abc.abstractmethod
    def read_t(self, e: np.ndarray) -> np.ndarray:
        """Backward read: (batch, cols) V -> (batch, rows) A."""

    @abc.abstractmethod
    def program(self, program: PulseProgram) -> ProgramReport:
        """Apply a pulse program."""

    @abc.abstractmethod
    def conductances(self) -> np.ndarray:
        """(rows, cols) cell conductances in S."""

    def set_conductances(self, g: np.ndarray) -> None:
        """Set every cell to conductance ``g`` (rows, cols) S, e.g. to initialise weights.

        Linear cells take ``g`` as is; memristor cells are put in the state whose conductance
        at the read voltage is ``g`` (an ideal write-verify, no programming pulses).
        """
        raise NotImplementedError(f"{type(self).__name__} cannot set conductances directly")

    def energy(self) -> dict[str, dict[str, float]]:
        """Energy (J) used so far by reads and programming, by component
        (:class:`~memcircuit.tiles.energy.EnergyLedger`)."""
        return self.ledger.snapshot()

    def take_energy(self) -> dict[str, dict[str, float]]:
        """:meth:`energy`, and the count back to zero."""
        return self.ledger.take()

    def states(self) -> np.ndarray | None:
        """(rows, cols) device states (dimensionless), or None for linear-resistor cells."""
        return None

    def set_states(self, x: np.ndarray) -> None:
        """Set the device states (rows, cols) directly."""
        raise NotImplementedError(f"{type(self).__name__} has no device states")

    def close(self) -> None:
        """Release simulator resources."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
