"""The ``ideal`` fidelity: ideal wires and periphery, ``I = G^T V`` (device currents at the line
voltages for memristor cells); programming with the numeric twin at ideal cell voltages.

By definition this fidelity ignores wire resistance, driver output resistance, access
transistors, TIA errors and the ADC of the tile's spec (DAC quantisation of the inputs is kept).
"""

from __future__ import annotations

import numpy as np

from memcircuit.fidelity import Fidelity
from memcircuit.tiles.crossbar_tile import CrossbarTile
from memcircuit.tiles.parts import TileSolver
from memcircuit.tiles.programming import TwinProgrammer


class IdealSolver(TileSolver):
    """``I = G^T V`` (device currents at the line voltages); biases ``V_row - V_col``."""

    name = "ideal"

    def read(self, inputs: np.ndarray, direction: str) -> np.ndarray:
        tile = self.tile
        forward = direction == "forward"
        tile.read_info = {"path": "product", "reason": "ideal: the cells' currents at the driver voltages"}
        if tile.device is None:
            g = tile._g if forward else tile._g.T
            tile._add_read(inputs, inputs * g.sum(axis=1))   # a driver feeds every cell of its line
            return inputs @ g
        if forward:  # row i at V_i, columns at 0 V: current into each column end
            cells = tile._cell_current(np.repeat(inputs[:, :, None], tile.cols, axis=2))
        else:        # columns at E_j, rows at 0 V: the cell voltage is -E_j; current flows into the row end
            cells = -tile._cell_current(np.repeat(-inputs[:, None, :], tile.rows, axis=1))
        tile._add_read(inputs, cells.sum(axis=2) if forward else cells.sum(axis=1))
        return cells.sum(axis=1) if forward else cells.sum(axis=2)

    def bias(self, row_v: np.ndarray, col_v: np.ndarray) -> tuple[np.ndarray, float, float]:
        return self.tile.direct_bias(row_v, col_v)


class IdealTile(CrossbarTile):
    """Ideal solver and numeric-twin programmer."""

    fidelity = Fidelity.IDEAL
    solver_class = IdealSolver
    programmer_class = TwinProgrammer
