"""The ``numeric`` fidelity: our sparse nodal solver of the full topology, numeric-twin updates.

One :class:`~memcircuit.tiles.nodal.NodalNetwork` per mode (forward read, backward read,
programming bias) is built and factorised lazily and reused until the cells change, so a
training loop that reads many batches between programming steps pays one factorisation.
Programming biases of a tile without wire or driver resistance or access transistors need no
solve (every node of a line is its driver's node) and take the direct path.
"""

from __future__ import annotations

import numpy as np

from memcircuit.tiles.crossbar_tile import CrossbarTile
from memcircuit.tiles.nodal import NodalNetwork


class NumericTile(CrossbarTile):
    fidelity = "numeric"

    def __init__(self, *args, **kwargs) -> None:
        self._networks: dict[str, tuple[int, NodalNetwork]] = {}
        super().__init__(*args, **kwargs)

    def network(self, mode: str) -> NodalNetwork:
        """The (cached) nodal network of ``mode``: ``forward``, ``backward`` or ``bias``."""
        cached = self._networks.get(mode)
        if cached is None:
            net = NodalNetwork(self.spec, mode, g=self._g, device=self.device, states=self._x)
        elif cached[0] != self._version:
            net = cached[1]
            net.set_cells(g=self._g, device=self.device, states=self._x)
        else:
            return cached[1]
        self._networks[mode] = (self._version, net)
        return net

    def _read(self, inputs: np.ndarray, direction: str) -> np.ndarray:
        sol = self.network(direction).solve(inputs)
        self._add_read(inputs, sol.driver_currents(), *sol.sense_voltages())
        return sol.sensed()

    def _bias(self, row_v: np.ndarray, col_v: np.ndarray) -> tuple[np.ndarray, float, float]:
        if self.parasitic_free:  # the nodal solution is V_row - V_col exactly: skip the solve
            return self._direct_bias(row_v, col_v)
        drive = np.concatenate([row_v, col_v])[None, :]
        sol = self.network("bias").solve(drive)
        currents = sol.driver_currents()
        return sol.cell_voltages()[0], float(np.sum(drive * currents)), \
            float(np.sum(currents**2)) * self.spec.driver.r_out
