"""The two parts a crossbar tile is composed of, besides its circuit and cells.

* A :class:`TileSolver` solves the tile's circuit at DC: reads (forward and backward), the
  effective conductance matrices of linear reads, and the programming bias (cell voltages with
  every row and column driven). ``ideal`` (``G^T V``), ``nodal`` (our nodal back end of the
  circuit IR) and ``spice`` (ngspice) implement it.
* A :class:`Programmer` applies a pulse program to the cells: the numeric twin at the cell
  voltages the solver gives (``twin``), or one ngspice transient of the whole program
  (``transient``).

A fidelity is a pair (docs/DESIGN.md): ``spice`` = spice solver + transient programmer,
``hybrid`` = spice solver + twin programmer, ``numeric`` = nodal solver + twin programmer,
``ideal`` = ideal solver + twin programmer.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from memcircuit.errors import ConfigError

if TYPE_CHECKING:
    from memcircuit.tiles.base import ProgramReport, PulseProgram
    from memcircuit.tiles.crossbar_tile import CrossbarTile


class TileSolver(abc.ABC):
    """DC solutions of one tile's circuit at its present cells (``tile.cells()``)."""

    name = ""
    uses_ngspice = False

    def __init__(self, tile: CrossbarTile) -> None:
        self.tile = tile

    @abc.abstractmethod
    def read(self, inputs: np.ndarray, direction: str) -> np.ndarray:
        """(batch, driven lines) V -> (batch, sensed lines) A; books the read's energy in the
        tile's ledger and says in ``tile.read_info`` which path the read took."""

    def effective_matrices(self, direction: str) -> tuple[np.ndarray, np.ndarray]:
        """(W_sense (sensed, driven), W_drive (driven, driven)), S, of a linear read."""
        raise ConfigError(f"the {self.name} solver has no effective conductance matrix")

    @abc.abstractmethod
    def bias(self, row_v: np.ndarray, col_v: np.ndarray) -> tuple[np.ndarray, float, float]:
        """Every row and column driven at DC: (cell voltages (rows, cols) V, power the drivers
        deliver W, the part of it lost in their output resistances W)."""

    def bias_many(self, drives: list[tuple[np.ndarray, np.ndarray]]) -> Iterator[tuple[np.ndarray, float, float]]:
        """:meth:`bias` of several driver settings at the cell state of the first call (batched
        where the solver can), yielded in order."""
        for rows, cols in drives:
            yield self.bias(rows, cols)

    def bias_each(self, drives: list[tuple[np.ndarray, np.ndarray]]) -> Iterator[tuple[np.ndarray, float, float]]:
        """:meth:`bias` of each driver setting at the cells as they are when it is drawn: the
        caller moves the cells between draws (a programming loop, interval by interval)."""
        for rows, cols in drives:
            yield self.bias(rows, cols)


class Programmer(abc.ABC):
    """Applies pulse programs to a tile's cells."""

    name = ""
    uses_ngspice = False
    OPTIONS: tuple[str, ...] = ()

    @abc.abstractmethod
    def program(self, tile: CrossbarTile, program: PulseProgram) -> ProgramReport:
        """Apply ``program``; the tile's states and ledger change, a report comes back."""
