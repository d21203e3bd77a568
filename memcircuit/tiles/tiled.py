"""Layers larger than one tile: a grid of tiles that reads and programs like one big tile.

Physical tiles have their own drivers and sense amplifiers; a layer of ``rows x cols`` weights
is cut into blocks of at most ``tile_rows x tile_cols``. Forward reads drive every tile of a row
block with that block's inputs and add the column currents of the tiles in a column (the
digital or analogue accumulation after the sense amplifiers); backward reads do the transpose.
A pulse step drives each tile with its slice of the row and column voltages.

With ``parallel_tiles > 1`` the tiles of a read or a pulse program run concurrently on that many
threads (:class:`TilePool`). At the ``spice`` and ``hybrid`` fidelities every tile has its own
libngspice worker processes, so the threads only wait on pipes while the tiles simulate. Results
are gathered and summed in grid order, so they equal the sequential ones exactly; each tile owns
its state (and its noise generator, see :func:`memcircuit.tiles.make_tile`), so no tile's numbers
depend on thread timing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

import numpy as np

from memcircuit.errors import ConfigError
from memcircuit.tiles.base import ProgramReport, PulseProgram, PulseStep, Tile
from memcircuit.tiles.energy import sum_energy

_Item = TypeVar("_Item")
_Out = TypeVar("_Out")


def _blocks(n: int, size: int) -> list[slice]:
    return [slice(k, min(k + size, n)) for k in range(0, n, size)]


def check_parallel_tiles(threads: object) -> int:
    """``threads`` if it is a valid number of tile threads (an integer >= 1), else ConfigError."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"parallel_tiles must be an integer >= 1, got {threads!r}")
    return threads


class TilePool:
    """Runs one call per tile on up to ``threads`` threads; results come back in input order.

    ``threads=1`` runs the calls in the caller's thread, one after another (no pool is made).
    The pool is started on first use and kept until :meth:`close`.
    """

    def __init__(self, threads: int = 1) -> None:
        self.threads = check_parallel_tiles(threads)
        self._pool: ThreadPoolExecutor | None = None

    def map(self, fn: Callable[[_Item], _Out], items: Sequence[_Item]) -> list[_Out]:
        """``[fn(item) for item in items]``, concurrently. Every call finishes before the first
        exception (in input order) is raised, so no tile is still simulating afterwards."""
        if self.threads == 1 or len(items) < 2:
            return [fn(item) for item in items]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="memcircuit-tile")
        futures = [self._pool.submit(fn, item) for item in items]
        wait(futures)
        return [f.result() for f in futures]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


class TiledLayer(Tile):
    """``rows x cols`` cells on a grid of tiles made by ``factory(rows, cols, row_slice, col_slice)``.

    ``parallel_tiles``: threads that read and program the tiles concurrently (1 = one after
    another); the tiles are built one after another in grid order (row blocks outer).
    """

    def __init__(self, rows: int, cols: int, tile_rows: int, tile_cols: int,
                 factory: Callable[[int, int, slice, slice], Tile], *, parallel_tiles: int = 1) -> None:
        super().__init__(rows, cols)
        if tile_rows < 1 or tile_cols < 1:
            raise ConfigError("tile size must be at least 1 x 1")
        self.pool = TilePool(parallel_tiles)
        self.row_blocks, self.col_blocks = _blocks(rows, tile_rows), _blocks(cols, tile_cols)
        self.tiles: list[list[Tile]] = [
            [factory(rb.stop - rb.start, cb.stop - cb.start, rb, cb) for cb in self.col_blocks]
            for rb in self.row_blocks
        ]
        self.fidelity = self.tiles[0][0].fidelity

    def _each(self):
        for a, rb in enumerate(self.row_blocks):
            for b, cb in enumerate(self.col_blocks):
                yield rb, cb, self.tiles[a][b]

    def _accumulate(self, x: np.ndarray, backward: bool) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        single = x.ndim == 1
        x = np.atleast_2d(x)
        n_in, n_out = (self.cols, self.rows) if backward else (self.rows, self.cols)
        if x.shape[1] != n_in:
            raise ConfigError(f"{'read_t' if backward else 'read'} needs (batch, {n_in}) volts, got shape {x.shape}")
        out = np.zeros((x.shape[0], n_out))
        grid = list(self._each())
        if backward:
            parts = self.pool.map(lambda job: job[2].read_t(x[:, job[1]]), grid)
        else:
            parts = self.pool.map(lambda job: job[2].read(x[:, job[0]]), grid)
        for (rb, cb, _), part in zip(grid, parts):  # summed in grid order: same numbers at any thread count
            if backward:
                out[:, rb] += part
            else:
                out[:, cb] += part
        return out[0] if single else out

    def read(self, v: np.ndarray) -> np.ndarray:
        return self._accumulate(v, backward=False)

    def read_t(self, e: np.ndarray) -> np.ndarray:
        return self._accumulate(e, backward=True)

    def program(self, program: PulseProgram) -> ProgramReport:
        g_before = self.conductances()
        jobs = []
        stage = program.lr_stage   # the layer's learning-rate cell times every tile, adapts in the first
        for rb, cb, tile in self._each():
            steps = tuple(PulseStep(s.rows[rb], s.cols[cb], s.row_widths[rb], s.col_widths[cb])
                          for s in program.steps)
            if any(s.rows.any() or s.cols.any() for s in steps) or (not jobs and stage is not None and stage.adapts):
                jobs.append((tile, PulseProgram(steps, stage if not jobs or stage is None else stage.held())))
        pulses, energy, extras = 0, 0.0, []
        for report in self.pool.map(lambda job: job[0].program(job[1]), jobs):
            pulses += report.pulses
            energy += report.energy_j or 0.0
            extras.append(report.extra)
        extra = {"fidelity": self.fidelity, "tiles": extras}
        cells = [e["lr_cell"] for e in extras if "lr_cell" in e]
        if cells:
            extra["lr_cell"] = cells[0]   # the tile in which the cell adapted
        return ProgramReport(g_before, self.conductances(), pulses, energy, extra=extra)

    def energy(self) -> dict[str, dict[str, float]]:
        return sum_energy(tile.energy() for _, _, tile in self._each())

    def take_energy(self) -> dict[str, dict[str, float]]:
        return sum_energy(tile.take_energy() for _, _, tile in self._each())

    def _assemble(self, getter) -> np.ndarray | None:
        parts = [[getter(t) for t in row] for row in self.tiles]
        if any(p is None for row in parts for p in row):
            return None
        return np.block(parts)

    def conductances(self) -> np.ndarray:
        return self._assemble(lambda t: t.conductances())

    def _scatter(self, arr: np.ndarray, what: str, setter: str) -> None:
        arr = np.asarray(arr, dtype=float)
        if arr.shape != (self.rows, self.cols):
            raise ConfigError(f"{what} must have shape ({self.rows}, {self.cols}), got {arr.shape}")
        for rb, cb, tile in self._each():
            getattr(tile, setter)(arr[rb, cb])

    def set_conductances(self, g: np.ndarray) -> None:
        self._scatter(g, "conductances", "set_conductances")

    def states(self) -> np.ndarray | None:
        return self._assemble(lambda t: t.states())

    def set_states(self, x: np.ndarray) -> None:
        self._scatter(x, "states", "set_states")

    def close(self) -> None:
        self.pool.close()
        for _, _, tile in self._each():
            tile.close()
