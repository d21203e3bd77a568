"""Our own sparse nodal solver of the crossbar topology (the ``numeric`` fidelity).

The network is the one :mod:`memcircuit.circuits.crossbar` writes for ngspice (same
:class:`~memcircuit.circuits.spec.CrossbarSpec`): row and column wire segments, driver output
resistances, cells (linear conductances, memristor numeric twins, level-1 access transistors)
and sense amplifiers (0 V virtual grounds or behavioural TIAs). Zero resistances merge nodes.

Nodal analysis (Ho, Ruehli and Brennan, IEEE TCAS 22(6), 1975, without the voltage-source
branches: driven nodes are known and move to the right-hand side). Unknown node voltages ``x``
solve ``F(x) = Y_uu x + Y_ut t + f(x, t) = 0`` for every input vector ``t`` of a batch, where
``f`` collects the non-linear elements. Strategy:

1. the Jacobian at zero bias is factorised once (SuperLU, symmetric-pattern ordering) and
   cached until the cells change; a linear network is then one multi-right-hand-side solve;
2. non-linear networks iterate chord-Newton steps with that factorisation for the whole batch,
   after one refresh at the batch-mean operating point;
3. inputs whose iteration contracts slowly (a saturating TIA, strongly non-linear cells) finish
   with full Newton (one factorisation per iteration) and step limiting.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from memcircuit.circuits.netlists import sensed_current
from memcircuit.circuits.sense import adc_quantise, tia_sense_current
from memcircuit.circuits.spec import CrossbarSpec
from memcircuit.circuits.transistor import level1_channel
from memcircuit.devices.base import DeviceModel
from memcircuit.errors import ConfigError, ConvergenceError
from memcircuit.solvers import Factorization, FactorPool, factorize

GMIN = 1e-12  # S, ngspice's default gmin across MOSFET junctions (bulk at ground)
MODES = ("forward", "backward", "bias")

# A group of non-linear two-terminal elements from node a to node b (indices into [x; t]):
# fn(va, vb) -> (current a->b, d/dva, d/dvb), arrays shaped (elements, batch).
ElementFn = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass
class Group:
    name: str
    a: np.ndarray
    b: np.ndarray
    fn: ElementFn


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = np.arange(n)

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


@dataclass
class Topology:
    """Node bookkeeping of one crossbar in one mode.

    Raw nodes: row nodes ``(i, j)``, column nodes, 1T1R middle nodes, row and column ports,
    driver source nodes and ground. After merging zero resistances every raw node maps to an
    unknown (``< n``) or to a terminal (``n + k``; terminal 0 is ground, then one per driver,
    then one per ideal sense amplifier).
    """

    n: int
    m: int
    index: np.ndarray                # raw node -> merged index
    drive_terms: np.ndarray          # terminal index (into [x; t]) of every driven line
    sense_nodes: np.ndarray          # merged index of every sensed port
    raw: dict[str, np.ndarray] = field(default_factory=dict)


def _raw_layout(spec: CrossbarSpec) -> dict[str, np.ndarray]:
    R, C = spec.shape
    rc = R * C
    layout = {"row": np.arange(rc).reshape(R, C), "col": rc + np.arange(rc).reshape(R, C)}
    nxt = 2 * rc
    if spec.cell == "1T1R":
        layout["mid"] = nxt + np.arange(rc).reshape(R, C)
        nxt += rc
    layout["rport"] = nxt + np.arange(R)
    layout["cport"] = nxt + R + np.arange(C)
    layout["rdrv"] = nxt + R + C + np.arange(R)
    layout["cdrv"] = nxt + 2 * R + C + np.arange(C)
    layout["gnd"] = np.array([nxt + 2 * (R + C)])
    return layout


def _roles(spec: CrossbarSpec, mode: str) -> tuple[bool, bool]:
    """(rows driven, columns driven); an undriven side is sensed."""
    if mode == "forward":
        return True, False
    if mode == "backward":
        return False, True
    if mode == "bias":
        return True, True
    raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")


class NodalNetwork:
    """The crossbar of ``spec`` in ``mode`` with the given cells, ready to solve batches.

    ``g``: linear cell conductances (S); or ``device`` + ``states``: memristor numeric twins.
    Ohmic devices (current = G(x) V, ``device.ohmic``) are linear cells of conductance G(x).
    ``factor_method``: ``"auto"``, ``"cholmod"`` or ``"splu"`` (:func:`memcircuit.solvers.factorize`);
    ``pool``: factorisations shared with the tile's other networks (:class:`FactorPool`).
    """

    def __init__(self, spec: CrossbarSpec, mode: str, *, g: np.ndarray | None = None,
                 device: DeviceModel | None = None, states: np.ndarray | None = None,
                 factor_method: str = "auto", pool: FactorPool | None = None) -> None:
        if spec.cell == "1T1R" and spec.transistor.model != "level1":
            raise ConfigError("the numeric solver implements the level-1 access transistor only; "
                              "the PTM 45 nm card needs the spice or hybrid fidelity")
        if spec.sense == "tia" and spec.tia.transistor:
            raise ConfigError("the numeric solver implements the behavioural op-amp only; "
                              "the transistor-level TIA needs the spice or hybrid fidelity")
        self.spec, self.mode, self.factor_method = spec, mode, factor_method
        self.rows_driven, self.cols_driven = _roles(spec, mode)
        # two-terminal cells and the TIA (a conductance to ground) keep the matrix symmetric;
        # the access transistor's channel does not
        self.symmetric = spec.cell != "1T1R"
        self.topo = self._topology()
        self.pool = pool if pool is not None else FactorPool()
        # the unknowns' layout names the matrix; the terminals' numbering does not enter it, so the
        # forward and backward networks of a tile share factorisations
        unknowns = np.where(self.topo.index < self.topo.n, self.topo.index, -1)
        self._layout = (self.topo.n, hashlib.blake2b(unknowns.tobytes(), digest_size=16).hexdigest())
        self._fixed_network()
        self._g_cells = np.zeros(self._cells.shape[0])
        self._g_version = 0
        self._y_cache: tuple[int, dict[str, sp.spmatrix]] | None = None
        self._lin: tuple[int, Factorization] | None = None  # factorisation of the linear matrix
        self._w: tuple[int, tuple[np.ndarray, np.ndarray]] | None = None  # effective conductance matrices
        self._lu0 = self._lu_op = None  # zero-bias and last operating-point factorisations
        self.timing = self.pool.timing  # s: last numeric factorisation, one right-hand side
        self.set_cells(g=g, device=device, states=states)

    def set_cells(self, *, g: np.ndarray | None = None, device: DeviceModel | None = None,
                  states: np.ndarray | None = None) -> None:
        """New cell contents on the same topology.

        Linear and ohmic cells are conductances of the linear matrix; a new state keeps the
        last factorisation, which then starts the iterations of the next solve (the residual is
        always exact, so a stale factorisation changes the iteration count, not the solution).
        Non-linear memristor cells are groups evaluated at every iteration; the factorisations
        of their Jacobians are kept the same way."""
        linear = device is None or device.ohmic
        if linear:
            if device is not None:
                g = np.asarray(device.conductance(np.asarray(states, dtype=float), 1.0), dtype=float)
            gv = np.asarray(g, dtype=float).reshape(-1) if g is not None else np.zeros(self._cells.shape[0])
            self._g_cells = gv.copy()
            self._g_version += 1
            self._y_cache = None
            self._w = None
            device, states = None, None
        elif self._g_cells.any():  # from linear to device cells: the matrix holds wires only
            self._g_cells = np.zeros(self._cells.shape[0])
            self._g_version += 1
            self._y_cache = None
            self._lin = self._w = None
        self.groups = self._groups(device, states)
        if self.groups:
            self._w = None

    @property
    def linear(self) -> bool:
        """True when every element is linear: one factorisation solves any input exactly."""
        return not self.groups

    # -- construction ------------------------------------------------------------------------
    def _topology(self) -> Topology:
        spec = self.spec
        R, C = spec.shape
        lay = _raw_layout(spec)
        total = int(lay["gnd"][0]) + 1
        uf = _UnionFind(total)
        for i in range(R):
            for j in range(C):
                if spec.wire_row == 0:
                    uf.union(lay["row"][i, j], lay["rport"][i])
                if spec.wire_col == 0:
                    uf.union(lay["col"][i, j], lay["cport"][j])
        gnd = int(lay["gnd"][0])
        for drv, port, driven in ((lay["rdrv"], lay["rport"], self.rows_driven),
                                  (lay["cdrv"], lay["cport"], self.cols_driven)):
            for k in range(drv.size):
                # a driver without output resistance is its port; an unused driver node is parked on ground
                uf.union(drv[k], port[k] if spec.driver.r_out == 0 else (drv[k] if driven else gnd))
        ideal = spec.sense == "ideal"
        # terminals: ground, driven sources, ideal virtual grounds (merged with ground)
        terminal_of: dict[int, int] = {uf.find(int(lay["gnd"][0])): 0}
        drive_raw = []
        if self.rows_driven:
            drive_raw += list(lay["rdrv"])
        if self.cols_driven:
            drive_raw += list(lay["cdrv"])
        sensed_ports = []
        if not self.rows_driven:
            sensed_ports = list(lay["rport"])
        elif not self.cols_driven:
            sensed_ports = list(lay["cport"])
        for node in drive_raw:
            root = uf.find(int(node))
            if root in terminal_of:
                raise ConfigError("two drivers are shorted together (zero resistance between them)")
            terminal_of[root] = len(terminal_of)
        sense_terms = []
        if ideal:
            for node in sensed_ports:
                root = uf.find(int(node))
                if root not in terminal_of:
                    terminal_of[root] = len(terminal_of)
                sense_terms.append(terminal_of[root])
        roots = np.array([uf.find(i) for i in range(total)])
        unknown_roots = [r for r in dict.fromkeys(roots.tolist()) if r not in terminal_of]
        n = len(unknown_roots)
        merged = {r: k for k, r in enumerate(unknown_roots)}
        merged.update({r: n + t for r, t in terminal_of.items()})
        index = np.array([merged[r] for r in roots])
        drive_terms = np.array([merged[uf.find(int(node))] for node in drive_raw], dtype=int)
        if ideal:
            sense_nodes = n + np.array(sense_terms, dtype=int)
        else:
            sense_nodes = np.array([index[p] for p in sensed_ports], dtype=int)
        return Topology(n, len(terminal_of), index, drive_terms, sense_nodes, lay)

    def _fixed_network(self) -> None:
        """The elements that never change on this topology (wires, driver resistances, the
        junction gmin of 1T1R cells) as one nodal matrix, and the cells' incidence matrix
        ``D`` (cells x nodes, +1 at the row side, -1 at the other side): linear cells add
        ``D^T diag(g) D``."""
        spec, lay, idx = self.spec, self.topo.raw, self.topo.index
        R, C = spec.shape
        a: list[np.ndarray] = []
        b: list[np.ndarray] = []
        val: list[np.ndarray] = []

        def add(na, nb, gv) -> None:
            na, nb = np.ravel(na), np.ravel(nb)
            a.append(idx[na])
            b.append(idx[nb])
            val.append(np.broadcast_to(np.asarray(gv, dtype=float), na.shape).ravel())

        if spec.wire_row > 0:
            add(lay["rport"], lay["row"][:, 0], 1.0 / spec.wire_row)
            add(lay["row"][:, :-1], lay["row"][:, 1:], 1.0 / spec.wire_row)
        if spec.wire_col > 0:
            add(lay["col"][:-1, :], lay["col"][1:, :], 1.0 / spec.wire_col)
            add(lay["col"][-1, :], lay["cport"], 1.0 / spec.wire_col)
        if spec.driver.r_out > 0:
            go = 1.0 / spec.driver.r_out
            if self.rows_driven:
                add(lay["rdrv"], lay["rport"], go)
            if self.cols_driven:
                add(lay["cdrv"], lay["cport"], go)
        if spec.cell == "1T1R":
            gnd = np.full(R * C, lay["gnd"][0])
            add(lay["mid"], gnd, GMIN)
            add(lay["col"], gnd, GMIN)
        size = self.topo.n + self.topo.m
        if a:
            a_all, b_all, v_all = np.concatenate(a), np.concatenate(b), np.concatenate(val)
            keep = a_all != b_all  # an element shorted by merging carries no current
            self.y_fixed = _stamp(a_all[keep], b_all[keep], v_all[keep], size)
        else:  # no wires: every element is a cell
            self.y_fixed = sp.csr_matrix((size, size))
        bottom = lay["mid"] if spec.cell == "1T1R" else lay["col"]
        self._cells = np.stack([idx[lay["row"].ravel()], idx[bottom.ravel()]], axis=1)
        k = np.arange(self._cells.shape[0])
        self.incidence = sp.coo_matrix(
            (np.r_[np.ones(k.size), -np.ones(k.size)], (np.r_[k, k], np.r_[self._cells[:, 0], self._cells[:, 1]])),
            shape=(k.size, size)).tocsr()
        # row blocks in CSR (fast products with many right-hand sides), unknowns (u) / terminals (t)
        n = self.topo.n
        self._yf = {"u": (self.y_fixed[:n, :n].tocsr(), self.y_fixed[:n, n:].tocsr()),
                    "t": (self.y_fixed[n:, :n].tocsr(), self.y_fixed[n:, n:].tocsr())}
        self._d_u, self._d_t = self.incidence[:, :n].tocsr(), self.incidence[:, n:].tocsr()
        self._d_back = {"u": self._d_u.T.tocsr(), "t": self._d_t.T.tocsr()}
        # the terminal couplings touch few nodes: the cells with a terminal end (ct) and the
        # unknowns next to a terminal (adj); right-hand sides and terminal currents use only those
        ct = np.flatnonzero(np.diff(self._d_t.indptr))
        adj = np.union1d(np.flatnonzero(np.diff(self._yf["u"][1].indptr)), self._d_u[ct].indices)
        self._coupling = {"ct": ct, "adj": adj, "ut": self._yf["u"][1][adj], "tu": self._yf["t"][0][:, adj].tocsr(),
                          "du": self._d_u[ct][:, adj].tocsr(), "dt": self._d_t[ct]}
        y_uu = self._yf["u"][0]
        self._fixed_digest = hashlib.blake2b(b"".join(a.tobytes() for a in (y_uu.indptr, y_uu.indices, y_uu.data)),
                                             digest_size=16).hexdigest()

    def _blocks(self) -> dict[str, sp.spmatrix]:
        """The linear nodal matrix (fixed elements and linear cells) split into unknown (u) and
        terminal (t) blocks, built once per cell state."""
        if self._y_cache is None or self._y_cache[0] != self._g_version:
            d = self.incidence
            y = (self.y_fixed + d.T @ sp.diags(self._g_cells) @ d).tocsr()
            n = self.topo.n
            self._y_cache = (self._g_version, {"uu": y[:n, :n].tocsc(), "ut": y[:n, n:].tocsr(),
                                               "tu": y[n:, :n].tocsr(), "tt": y[n:, n:].tocsr()})
        return self._y_cache[1]

    @property
    def y_uu(self) -> sp.csc_matrix:
        return self._blocks()["uu"]

    @property
    def y_ut(self) -> sp.csr_matrix:
        return self._blocks()["ut"]

    @property
    def y_tu(self) -> sp.csr_matrix:
        return self._blocks()["tu"]

    @property
    def y_tt(self) -> sp.csr_matrix:
        return self._blocks()["tt"]

    def _linear_currents(self, x: np.ndarray | None, t: np.ndarray, part: str = "u") -> np.ndarray:
        """Currents leaving the unknown (``part="u"``) or terminal (``"t"``) nodes through the
        linear elements, for unknown voltages ``x`` and terminal voltages ``t`` (columns: a
        batch; None: all 0 V), without assembling the matrix of the present cells (cheap when only
        they change). A right-hand side (``x`` None, ``part="u"``) is column-major, as the
        factorisations take it."""
        if x is None or part == "t":  # only the couplings to the terminals take part
            c = self._coupling
            across = c["dt"] @ t
            if x is not None:
                x_adj = x[c["adj"]]
                across += c["du"] @ x_adj
            flow = self._g_cells[c["ct"], None] * across
            if part == "u":
                out = np.zeros((self.topo.n, t.shape[1]), order="F")
                out[c["adj"]] = c["ut"] @ t + c["du"].T @ flow
                return out
            out = self._yf["t"][1] @ t + c["dt"].T @ flow
            return out if x is None else out + c["tu"] @ x_adj
        if self._y_cache is not None and self._y_cache[0] == self._g_version:
            # the matrix of the present cells exists: its rows of terminal-adjacent nodes are few
            blocks = self._y_cache[1]
            y_x, y_t = (blocks["uu"], blocks["ut"]) if part == "u" else (blocks["tu"], blocks["tt"])
            return y_t @ t if x is None else y_x @ x + y_t @ t
        y_x, y_t = self._yf[part]
        out = y_t @ t if x is None else y_x @ x + y_t @ t
        if self._g_cells.any():
            across = self._d_t @ t if x is None else self._d_u @ x + self._d_t @ t
            out += self._d_back[part] @ (self._g_cells[:, None] * across)
        return out

    def _groups(self, device: DeviceModel | None, states: np.ndarray | None) -> list[Group]:
        spec, lay, idx = self.spec, self.topo.raw, self.topo.index
        groups: list[Group] = []
        bottom = lay["mid"] if spec.cell == "1T1R" else lay["col"]
        if device is not None:
            shape = spec.shape
            x = np.asarray(states, dtype=float).reshape(shape)

            def cell_fn(va, vb, x=x, device=device, shape=shape):
                # device calls see (batch, rows, cols) arrays, so per-cell parameters of shape
                # (rows, cols) (device-to-device variation) broadcast naturally
                v = (va - vb).T.reshape((-1, *shape))
                xs = np.broadcast_to(x, v.shape)
                i = np.asarray(device.current(v, xs), dtype=float).reshape(v.shape[0], -1).T
                g = np.asarray(device.didv(v, xs), dtype=float).reshape(v.shape[0], -1).T
                return i, g, -g

            groups.append(Group("cells", idx[lay["row"].ravel()], idx[bottom.ravel()], cell_fn))
        if spec.cell == "1T1R":
            t = spec.transistor

            def mos_fn(vd, vs, t=t):
                return level1_channel(t.v_gate, vd, vs, t)

            groups.append(Group("access", idx[lay["mid"].ravel()], idx[lay["col"].ravel()], mos_fn))
        if spec.sense == "tia":
            tia = spec.tia
            gnd = self.topo.n  # terminal 0

            def tia_fn(va, vb, tia=tia):
                i, di, _ = tia_sense_current(va, tia)
                return i, di, np.zeros_like(di)

            sense = self.topo.sense_nodes
            groups.append(Group("tia", sense, np.full(sense.shape, gnd), tia_fn))
        return [g for g in groups if g.a.size]

    # -- evaluation --------------------------------------------------------------------------
    def _terminals(self, drive: np.ndarray) -> np.ndarray:
        """Terminal voltages (m, batch) from driver voltages (drivers, batch)."""
        t = np.zeros((self.topo.m, drive.shape[1]))
        t[self.topo.drive_terms - self.topo.n] = drive
        return t

    def _nonlinear(self, z: np.ndarray, *, jacobian: str | None = None):
        """Currents of the non-linear groups stamped into a (n+m, batch) array, and optionally
        the stamps of their partials: ``jacobian="mean"`` (one matrix, batch mean) or ``"each"``."""
        n = self.topo.n
        f = np.zeros_like(z)
        stamps = []
        for grp in self.groups:
            i, da, db = grp.fn(z[grp.a], z[grp.b])
            np.add.at(f, grp.a, i)
            np.add.at(f, grp.b, -i)
            if jacobian is not None:
                stamps.append((grp.a, grp.b, da, db))
        if jacobian is None:
            return f, None
        return f, (stamps, n)

    def _jacobian(self, stamps, column: int | None) -> sp.csc_matrix:
        """Y_uu plus the partials of the non-linear elements (batch mean, or one column)."""
        parts_stamps, n = stamps
        rows, cols, vals = [], [], []
        for a, b, da, db in parts_stamps:
            da = da.mean(axis=1) if column is None else da[:, column]
            db = db.mean(axis=1) if column is None else db[:, column]
            for r, c, v in ((a, a, da), (a, b, db), (b, a, -da), (b, b, -db)):
                keep = (r < n) & (c < n)
                rows.append(r[keep])
                cols.append(c[keep])
                vals.append(v[keep])
        if not rows:
            return self.y_uu
        extra = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
        return (self.y_uu + extra).tocsc()

    def _zero_bias_stamps(self):
        z = np.zeros((self.topo.n + self.topo.m, 1))
        return self._nonlinear(z, jacobian="mean")[1]

    def _factor(self, j: sp.spmatrix) -> Factorization:
        t0 = time.perf_counter()
        f = factorize(j, symmetric=self.symmetric, method=self.factor_method)
        self.timing["factor"] = time.perf_counter() - t0
        return f

    def _solve_with(self, f: Factorization, b: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        x = f.solve(b)
        self.timing["rhs"] = (time.perf_counter() - t0) / max(1, b.shape[1] if b.ndim == 2 else 1)
        return x

    def _lu_zero(self):
        if self._lu0 is None:
            self._lu0 = self._factor(self._jacobian(self._zero_bias_stamps(), None))
        return self._lu0

    def _currents(self, x: np.ndarray, t: np.ndarray, part: str = "u") -> np.ndarray:
        """Current leaving every unknown (``part="u"``: the residual) or terminal (``"t"``) node
        into the elements."""
        f = self._linear_currents(x, t, part)
        if self.groups:
            nl = self._nonlinear(np.vstack([x, t]))[0]
            f = f + (nl[: self.topo.n] if part == "u" else nl[self.topo.n:])
        return f

    def _pool_key(self) -> tuple:
        """Names the linear matrix: the layout, the fixed elements and the cell conductances."""
        g = hashlib.blake2b(self._g_cells.tobytes(), digest_size=16).hexdigest()
        return self._layout, self._fixed_digest, g

    def linear_factor(self) -> Factorization:
        """The factorisation of the linear matrix at the present cell state (made if stale)."""
        if self.groups:
            raise ConfigError("the network has non-linear elements; it has no single linear matrix")
        if self._lin is None or self._lin[0] != self._g_version:
            f = self.pool.get(self._pool_key(), lambda: self._factor(self.y_uu), self._layout)
            self._lin = (self._g_version, f)
        return self._lin[1]

    def solve(self, drive: np.ndarray, *, tol: float = 1e-10, max_iter: int = 100) -> Solution:
        """Solve for a batch: ``drive`` is (batch, driven lines) V. Returns a :class:`Solution`.

        Converged when every node-voltage update is below ``tol`` times the drive scale (and
        1e-15 V) and the node currents balance to ``tol`` times the largest element current.
        """
        drive = np.atleast_2d(np.asarray(drive, dtype=float))
        if drive.shape[1] != self.topo.drive_terms.size:
            raise ConfigError(f"{self.mode}: expected {self.topo.drive_terms.size} driven lines, got {drive.shape[1]}")
        t = self._terminals(drive.T)
        n = self.topo.n
        batch = drive.shape[0]
        scale_v = max(float(np.max(np.abs(drive), initial=0.0)), 1e-3)
        x = np.zeros((n, batch))
        self._last_iterations = 1
        if n and self.linear:
            x = self._solve_linear(t, scale_v * tol + 1e-15, max_iter)
        elif n:
            warm = self._lu_op
            x = self._iterate(warm if warm is not None else self._lu_zero(), x, t, scale_v, tol, max_iter,
                              warm=warm is not None)
        return Solution(self, x, t, self._last_iterations)

    def _solve_linear(self, t: np.ndarray, xtol: float, max_iter: int) -> np.ndarray:
        """A linear network: one solve with the factorisation of the present cells, or, when
        only the cells changed since the last factorisation and a few iterations cost less than
        a new one (a programming interval, a small batch), iterative refinement with the stale
        factorisation (``x -= F_old^-1 r(x)`` with the exact residual), refactorising when it
        contracts slowly."""
        batch = t.shape[1]
        rhs = self._linear_currents(None, -t)  # linear in t: no pass over the full right-hand side
        current = (self._lin is not None and self._lin[0] == self._g_version) or self.pool.has(self._pool_key())
        f = None if current else self.pool.latest(self._layout)
        t_factor, t_rhs = self.timing["factor"], self.timing["rhs"]
        # ~3 refinement solves against one factorisation and one solve
        cheaper = batch <= 2 if t_factor is None or t_rhs is None else 2.0 * batch * t_rhs < t_factor
        if f is not None and cheaper:
            x = self._solve_with(f, rhs)
            prev = np.inf
            for it in range(2, min(max_iter, 12) + 1):
                dx = self._solve_with(f, self._currents(x, t))
                x -= dx
                step = float(np.max(np.abs(dx)))
                if step <= xtol:
                    self._last_iterations = it
                    return x
                if it >= 3 and step > 0.5 * prev:
                    break
                prev = step
        x = self._solve_with(self.linear_factor(), rhs)
        self._last_iterations = 1
        return x

    def effective_matrices(self) -> tuple[np.ndarray, np.ndarray]:
        """(W_sense (sensed lines, driven lines), W_drive (driven lines, driven lines)), S: the
        sensed currents of any input are ``W_sense @ drive`` and the driver currents
        ``W_drive @ drive``, exactly, IR drop included, while the cells do not change.

        Only for linear networks with ideal (0 V) sense amplifiers. Costs one solve per driven
        line with the present factorisation, in column blocks so that memory stays bounded."""
        if not self.linear or self.spec.sense != "ideal":
            raise ConfigError("an effective conductance matrix exists for linear cells with ideal sensing only")
        if self._w is not None and self._w[0] == self._g_version:
            return self._w[1]
        n = self.topo.n
        d = self.topo.drive_terms - n
        s = self.topo.sense_nodes - n
        terms = np.concatenate([s, d])
        blocks = self._blocks()
        # current from the network into each terminal: -(Y_tt - Y_tu Y_uu^-1 Y_ut) t; drivers push
        # the opposite of what flows into them
        w = -blocks["tt"][terms][:, d].toarray()
        if n:
            f = self.linear_factor()
            ut = blocks["ut"].tocsc()
            adj = self._coupling["adj"]  # the terminals see only these unknowns
            tu = blocks["tu"][terms][:, adj]
            chunk = int(max(1, min(128, 2e8 // (8 * n))))  # at most ~200 MB of solutions at a time
            for k in range(0, d.size, chunk):
                xd = self._solve_with(f, ut[:, d[k:k + chunk]].toarray(order="F"))
                w[:, k:k + chunk] += np.asarray(tu @ xd[adj])
        pair = (w[: s.size], -w[s.size:])
        self._w = (self._g_version, pair)
        return pair

    def effective_matrix(self) -> np.ndarray:
        """W (sensed lines, driven lines), S: ``W @ drive`` are the sensed currents (see
        :meth:`effective_matrices`)."""
        return self.effective_matrices()[0]

    def _iterate(self, lu, x, t, scale_v, tol, max_iter, warm: bool = False):
        """Chord iterations with the factorisation ``lu``, refactorised once at the operating point:
        after the first step when ``lu`` is the zero-bias Jacobian, or (``warm``: the previous
        solve's operating-point Jacobian, a pulse program's next interval) only when the
        iteration contracts slowly. The last operating-point factorisation is kept for the next
        solve; the residual is always exact, so a stale Jacobian changes only the iteration count."""
        batch = x.shape[1]
        xtol = tol * scale_v + 1e-15
        limit = max(1.0, 2.0 * scale_v)  # V: largest update per iteration (overshoot guard)
        active = np.ones(batch, dtype=bool)
        prev = np.full(batch, np.inf)
        slow = np.zeros(batch, dtype=bool)
        refreshed = False
        it = 0
        for it in range(1, max_iter + 1):
            r = self._currents(x[:, active], t[:, active])
            dx = lu.solve(r)
            step = np.max(np.abs(dx), axis=0)
            dx *= np.minimum(1.0, limit / np.maximum(step, 1e-300))
            x[:, active] -= dx
            cols = np.flatnonzero(active)
            done = step <= xtol
            ratio = step / np.maximum(prev[cols], 1e-300)
            prev[cols] = step
            refresh = not refreshed and (it == 1 if not warm else (it >= 2 and bool(np.any(~done & (ratio > 0.2)))))
            if not refresh:
                slow[cols] = ~done & (it >= 3) & (ratio > 0.5)
            active[cols[done | slow[cols]]] = False
            if not active.any():
                break
            if refresh:
                z = np.vstack([x[:, active], t[:, active]])
                stamps = self._nonlinear(z, jacobian="mean")[1]
                lu = self._factor(self._jacobian(stamps, None))
                self._lu_op = lu
                refreshed = True
        else:
            slow |= active
        for col in np.flatnonzero(slow):
            x[:, col] = self._newton(x[:, col], t[:, col], xtol, limit, max_iter)
        self._last_iterations = it
        return x

    def _newton(self, x, t, xtol, limit, max_iter) -> np.ndarray:
        x = x.reshape(-1, 1).copy()
        t = t.reshape(-1, 1)
        for _ in range(max_iter):
            z = np.vstack([x, t])
            f, stamps = self._nonlinear(z, jacobian="each")
            r = self._linear_currents(x, t) + f[: self.topo.n]
            dx = self._factor(self._jacobian(stamps, 0)).solve(r)
            step = float(np.max(np.abs(dx)))
            if step > limit:
                dx *= limit / step
            x -= dx
            if step <= xtol:
                return x[:, 0]
        raise ConvergenceError(f"numeric solver: Newton did not converge in {max_iter} iterations "
                               f"(last update {step:.3g} V)")


@dataclass
class Solution:
    """Node voltages of a solved batch and what the periphery measures."""

    network: NodalNetwork
    x: np.ndarray          # (n, batch) unknown node voltages
    t: np.ndarray          # (m, batch) terminal voltages
    iterations: int = 1

    @property
    def z(self) -> np.ndarray:
        return np.vstack([self.x, self.t])

    def voltage(self, raw: np.ndarray) -> np.ndarray:
        """Voltages (..., batch) of raw nodes (see :func:`_raw_layout`)."""
        idx = self.network.topo.index[raw]
        n = self.network.topo.n
        return np.where((idx < n)[..., None], self.x[np.minimum(idx, n - 1)] if n else 0.0,
                        self.t[np.maximum(idx - n, 0)])

    def terminal_currents(self) -> np.ndarray:
        """Current (A) flowing from the network into every terminal, (m, batch)."""
        net = self.network
        return -net._currents(self.x, self.t, "t")

    def sensed(self) -> np.ndarray:
        """(batch, sensed lines): current into each ideal sense amplifier (A), or the current a
        TIA reports, ``-V_out / r_f`` (A), after its ADC if any."""
        net = self.network
        spec = net.spec
        nodes = net.topo.sense_nodes
        if spec.sense == "ideal":
            return self.terminal_currents()[nodes - net.topo.n].T
        _, _, v_out = tia_sense_current(self.z[nodes], spec.tia)
        if spec.adc is not None:
            v_out = adc_quantise(v_out, spec.adc)
        return sensed_current(spec, v_out).T

    def sense_voltages(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(batch, sensed lines) TIA input and output voltages (V); (None, None) for ideal sensing."""
        net = self.network
        if net.spec.sense == "ideal":
            return None, None
        v_in = self.z[net.topo.sense_nodes]
        return v_in.T, tia_sense_current(v_in, net.spec.tia)[2].T

    def driver_currents(self) -> np.ndarray:
        """(batch, drivers): current (A) each driver pushes into the network."""
        net = self.network
        return -self.terminal_currents()[net.topo.drive_terms - net.topo.n].T

    def cell_voltages(self) -> np.ndarray:
        """(batch, rows, cols): voltage across each cell element (row side minus other side)."""
        net = self.network
        top, bottom = net._cells.T  # merged index of each cell's row side and other side
        # gathers along the unknowns of each input: the solution is column-major (one contiguous
        # vector per input), and so is each input's block of the answer
        z = self.x.T if max(top.max(initial=-1), bottom.max(initial=-1)) < net.topo.n else self.z.T
        v = np.take(z, top, axis=1)
        v -= np.take(z, bottom, axis=1)
        return v.reshape((-1, *net.spec.shape))


def _stamp(a: np.ndarray, b: np.ndarray, g: np.ndarray, size: int) -> sp.csr_matrix:
    """Nodal matrix of conductances ``g`` between nodes ``a`` and ``b``."""
    rows = np.concatenate([a, b, a, b])
    cols = np.concatenate([a, b, b, a])
    vals = np.concatenate([g, g, -g, -g])
    return sp.coo_matrix((vals, (rows, cols)), shape=(size, size)).tocsr()
