"""The ``numeric`` fidelity: our sparse nodal solver of the full topology, numeric-twin updates.

One :class:`~memcircuit.solvers.nodal.NodalNetwork` per mode stamps the circuit the generators
build for that mode (forward read, backward read, programming bias:
:func:`memcircuit.circuits.netlists.mode_circuit`, the netlists ngspice receives at ``spice``)
and is factorised lazily and reused until the cells change, so a training loop that reads many
batches between programming steps pays one factorisation.
Programming biases of a tile without wire or driver resistance or access transistors need no
solve (every node of a line is its driver's node) and take the direct path.

Fixed-state reads: while the cells do not change, a linear network (linear or ohmic cells, ideal
sense amplifiers) reads exactly through its effective conductance matrix W (IR drop included,
:meth:`~memcircuit.solvers.nodal.NodalNetwork.effective_matrices`), built with one solve per driven
line once the inputs read on one cell state reach that number; every later read of that state is a
matrix product. ``read_info`` says which path the last read took and why.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from memcircuit.circuits.netlists import Cells, mode_circuit, read_probes, sensed_current
from memcircuit.circuits.spec import CrossbarSpec
from memcircuit.devices.base import DeviceModel
from memcircuit.fidelity import Fidelity
from memcircuit.solvers import FactorPool
from memcircuit.solvers.nodal import NodalNetwork
from memcircuit.tiles.crossbar_tile import CrossbarTile
from memcircuit.tiles.parts import TileSolver
from memcircuit.tiles.programming import TwinProgrammer


def solve_block(unknowns: int) -> int:
    """Inputs per batched solve of a network with ``unknowns`` nodes: right-hand sides and node
    voltages of ~16 MB (at least 8 inputs). Blocks under glibc's 32 MB mmap threshold reuse heap
    memory instead of faulting in fresh pages for every solve; at 256 x 128 with wires the bias
    solves of a pulse program cost 0.6x the CPU time of 200 MB blocks, at 512 x 512 reads 0.9x."""
    return int(max(8, 1.6e7 // (8 * max(unknowns, 1))))


def crossbar_network(spec: CrossbarSpec, mode: str, *, g: np.ndarray | None = None, device: DeviceModel | None = None,
                     states: np.ndarray | None = None, factor_method: str = "auto",
                     pool: FactorPool | None = None) -> NodalNetwork:
    """The nodal network of a crossbar's ``mode`` circuit (:func:`mode_circuit`) with linear cells
    ``g`` (S) or ``device`` cells at ``states``."""
    return NodalNetwork(mode_circuit(spec, Cells(g=g, device=device, states=states), mode),
                        factor_method=factor_method, pool=pool)


class NodalSolver(TileSolver):
    """The nodal back end of the tile's circuits (one network per mode, see the module doc)."""

    name = "nodal"

    def __init__(self, tile) -> None:
        super().__init__(tile)
        self._networks: dict[str, tuple[int, NodalNetwork]] = {}
        self._pool = FactorPool()  # the modes share factorisations of equal matrices
        self._inputs_read: dict[str, tuple[int, int]] = {}  # direction -> (cell version, inputs read)

    def network(self, mode: str) -> NodalNetwork:
        """The (cached) nodal network of ``mode``: ``forward``, ``backward`` or ``bias``."""
        tile = self.tile
        cached = self._networks.get(mode)
        if cached is None:
            net = NodalNetwork(mode_circuit(tile.spec, tile.cells(), mode), pool=self._pool)
        elif cached[0] != tile._version:
            net = cached[1]
            net.set_cells(g=tile._g, device=tile.device, states=tile._x)
        else:
            return cached[1]
        self._networks[mode] = (tile._version, net)
        return net

    def effective_matrices(self, direction: str) -> tuple[np.ndarray, np.ndarray]:
        """(W_sense, W_drive), S, from the nodal solver: one solve per driven line
        (:meth:`NodalNetwork.effective_matrices`), exact."""
        return self.network(direction).effective_matrices(read_probes(self.tile.spec, direction).sensed)

    def read(self, inputs: np.ndarray, direction: str) -> np.ndarray:
        tile = self.tile
        net = self.network(direction)
        probes = read_probes(tile.spec, direction)
        if not tile.linear_read:
            tile.read_info = {"path": "solve", "reason": "non-linear cells or periphery"}
        else:
            version, seen = self._inputs_read.get(direction, (-1, 0))
            seen = (seen if version == tile._version else 0) + inputs.shape[0]
            self._inputs_read[direction] = (tile._version, seen)
            if seen >= inputs.shape[1]:  # W costs one solve per driven line
                tile.read_info = {"path": "product", "reason": "linear circuit, cells unchanged"}
                w_sense, w_drive = tile.effective_matrices(direction)
                tile._add_read(inputs, inputs @ w_drive.T)
                return inputs @ w_sense.T
            tile.read_info = {"path": "solve", "reason": "fewer inputs on this state than a product costs"}
            if tile.device is not None and tile.batched_bias:
                # this state is programmed next and its bias solves need its factorisation: made now,
                # the forward and backward reads use it instead of refining with a stale one
                net.linear_factor()
        chunk = solve_block(net.topo.n)
        out = []
        for k in range(0, inputs.shape[0], chunk):
            # ideal sense amplifiers: the currents need only the unknowns next to a terminal
            sol = net.solve(inputs[k:k + chunk], terminals_only=not probes.tia_in)
            v_in, v_out = (sol.values(probes.tia_in), sol.values(probes.tia_out)) if probes.tia_in else (None, None)
            tile._add_read(inputs[k:k + chunk], sol.external_currents(), v_in, v_out)
            out.append(sensed_current(tile.spec, sol.values(probes.sensed)))
        return np.concatenate(out, axis=0)

    def bias_many(self, drives: list[tuple[np.ndarray, np.ndarray]]) -> Iterator[tuple[np.ndarray, float, float]]:
        """Batched bias solves, all at the cell states of the first call (the program's start)
        with one factorisation (:func:`solve_block` inputs at a time)."""
        tile = self.tile
        net = self.network("bias")  # held: the pulses applied meanwhile do not reach its cells
        chunk = solve_block(net.topo.n)
        if net.linear and len(drives) > chunk:
            # the blocks together outweigh a factorisation (each alone might refine with a stale one)
            net.linear_factor()
        for k in range(0, len(drives), chunk):
            drive = np.array([np.concatenate(d) for d in drives[k:k + chunk]])
            sol = net.solve(drive)
            currents = sol.external_currents()
            power = np.sum(drive * currents, axis=1)
            lost = np.sum(currents**2, axis=1) * tile.spec.driver.r_out
            yield from zip(sol.cell_voltages(), power.tolist(), lost.tolist())

    def bias(self, row_v: np.ndarray, col_v: np.ndarray) -> tuple[np.ndarray, float, float]:
        if self.tile.parasitic_free:  # the nodal solution is V_row - V_col exactly: skip the solve
            return self.tile.direct_bias(row_v, col_v)
        return next(self.bias_many([(row_v, col_v)]))


class NumericTile(CrossbarTile):
    """Nodal solver and numeric-twin programmer."""

    fidelity = Fidelity.NUMERIC
    solver_class = NodalSolver
    programmer_class = TwinProgrammer
