"""The ``numeric`` fidelity: our sparse nodal solver of the full topology, numeric-twin updates.

One :class:`~memcircuit.tiles.nodal.NodalNetwork` per mode (forward read, backward read,
programming bias) is built and factorised lazily and reused until the cells change, so a
training loop that reads many batches between programming steps pays one factorisation.
Programming biases of a tile without wire or driver resistance or access transistors need no
solve (every node of a line is its driver's node) and take the direct path.

Fixed-state reads: while the cells do not change, a linear network (linear or ohmic cells, ideal
sense amplifiers) reads exactly through its effective conductance matrix W (IR drop included,
:meth:`~memcircuit.tiles.nodal.NodalNetwork.effective_matrices`), built with one solve per driven
line once the inputs read on one cell state reach that number; every later read of that state is a
matrix product. ``read_info`` says which path the last read took and why.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from memcircuit.solvers import FactorPool
from memcircuit.tiles.crossbar_tile import CrossbarTile
from memcircuit.tiles.nodal import NodalNetwork


def solve_block(unknowns: int) -> int:
    """Inputs per batched solve of a network with ``unknowns`` nodes: right-hand sides and node
    voltages of ~16 MB (at least 8 inputs). Blocks under glibc's 32 MB mmap threshold reuse heap
    memory instead of faulting in fresh pages for every solve; at 256 x 128 with wires the bias
    solves of a pulse program cost 0.6x the CPU time of 200 MB blocks, at 512 x 512 reads 0.9x."""
    return int(max(8, 1.6e7 // (8 * max(unknowns, 1))))


class NumericTile(CrossbarTile):
    fidelity = "numeric"

    def __init__(self, *args, **kwargs) -> None:
        self._networks: dict[str, tuple[int, NodalNetwork]] = {}
        self._pool = FactorPool()  # the modes share factorisations of equal matrices
        self._inputs_read: dict[str, tuple[int, int]] = {}  # direction -> (cell version, inputs read)
        super().__init__(*args, **kwargs)

    def network(self, mode: str) -> NodalNetwork:
        """The (cached) nodal network of ``mode``: ``forward``, ``backward`` or ``bias``."""
        cached = self._networks.get(mode)
        if cached is None:
            net = NodalNetwork(self.spec, mode, g=self._g, device=self.device, states=self._x, pool=self._pool)
        elif cached[0] != self._version:
            net = cached[1]
            net.set_cells(g=self._g, device=self.device, states=self._x)
        else:
            return cached[1]
        self._networks[mode] = (self._version, net)
        return net

    def _read(self, inputs: np.ndarray, direction: str) -> np.ndarray:
        net = self.network(direction)
        if not net.linear:
            self.read_info = {"path": "solve", "reason": "non-linear cells or periphery"}
        elif self.spec.sense != "ideal":
            self.read_info = {"path": "solve", "reason": "the TIA saturates (non-linear periphery)"}
        else:
            version, seen = self._inputs_read.get(direction, (-1, 0))
            seen = (seen if version == self._version else 0) + inputs.shape[0]
            self._inputs_read[direction] = (self._version, seen)
            if seen >= inputs.shape[1]:  # W costs one solve per driven line
                self.read_info = {"path": "product", "reason": "linear circuit, cells unchanged"}
                w_sense, w_drive = net.effective_matrices()
                self._add_read(inputs, inputs @ w_drive.T)
                return inputs @ w_sense.T
            self.read_info = {"path": "solve", "reason": "fewer inputs on this state than a product costs"}
            if self.device is not None and self.batched_bias:
                # this state is programmed next and its bias solves need its factorisation: made now,
                # the forward and backward reads use it instead of refining with a stale one
                net.linear_factor()
        chunk = solve_block(net.topo.n)
        out = []
        for k in range(0, inputs.shape[0], chunk):
            sol = net.solve(inputs[k:k + chunk])
            self._add_read(inputs[k:k + chunk], sol.driver_currents(), *sol.sense_voltages())
            out.append(sol.sensed())
        return np.concatenate(out, axis=0)

    def _bias_many(self, drives: list[tuple[np.ndarray, np.ndarray]]) -> Iterator[tuple[np.ndarray, float, float]]:
        """Batched bias solves, all at the cell states of the first call (the program's start)
        with one factorisation (:func:`solve_block` inputs at a time)."""
        net = self.network("bias")  # held: the pulses applied meanwhile do not reach its cells
        chunk = solve_block(net.topo.n)
        if net.linear and len(drives) > chunk:
            # the blocks together outweigh a factorisation (each alone might refine with a stale one)
            net.linear_factor()
        for k in range(0, len(drives), chunk):
            drive = np.array([np.concatenate(d) for d in drives[k:k + chunk]])
            sol = net.solve(drive)
            currents = sol.driver_currents()
            power = np.sum(drive * currents, axis=1)
            lost = np.sum(currents**2, axis=1) * self.spec.driver.r_out
            yield from zip(sol.cell_voltages(), power.tolist(), lost.tolist())

    def _bias(self, row_v: np.ndarray, col_v: np.ndarray) -> tuple[np.ndarray, float, float]:
        if self.parasitic_free:  # the nodal solution is V_row - V_col exactly: skip the solve
            return self._direct_bias(row_v, col_v)
        drive = np.concatenate([row_v, col_v])[None, :]
        sol = self.network("bias").solve(drive)
        currents = sol.driver_currents()
        return sol.cell_voltages()[0], float(np.sum(drive * currents)), \
            float(np.sum(currents**2)) * self.spec.driver.r_out
