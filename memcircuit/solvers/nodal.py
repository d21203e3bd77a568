"""The nodal back end of the circuit IR (the ``numeric`` fidelity's solver).

:class:`NodalNetwork` stamps the circuit the generators build (:mod:`memcircuit.circuits`), the
same object the ngspice writer prints: resistors and resistor arrays, voltage sources to ground
(independent DC values or external values supplied per solve), crossbar cells through the
device's numeric twin (:class:`~memcircuit.circuits.elements.CellArray`), level-1 access
transistors (:class:`~memcircuit.circuits.elements.AccessTransistorArray`) and behavioural TIAs
(:class:`~memcircuit.circuits.elements.Tia`), flattening subcircuit instances. Capacitors are
open at DC. An element it cannot stamp is refused with an error that names it. Results are read
through the circuit's probes (:mod:`memcircuit.netlist.probes`).

Nodal analysis (Ho, Ruehli and Brennan, IEEE TCAS 22(6), 1975, without the voltage-source
branches: nodes held by sources are known and move to the right-hand side). Unknown node
voltages ``x`` solve ``F(x) = Y_uu x + Y_ut t + f(x, t) = 0`` for every terminal vector ``t`` of
a batch, where ``f`` collects the non-linear elements. Strategy:

1. the linear matrix (fixed elements plus linear and ohmic cells) is factorised by
   :func:`memcircuit.solvers.factorize` (CHOLMOD or SuperLU) and shared with the tile's other
   networks through a :class:`FactorPool`; a linear network is then one multi-right-hand-side
   solve, or refinement with the previous factorisation when only the cells moved;
2. non-linear networks iterate chord-Newton steps with one factorisation for the whole batch,
   after one refresh at the batch-mean operating point;
3. inputs whose iteration contracts slowly (a saturating TIA, strongly non-linear cells) finish
   with full Newton (one factorisation per iteration) and step limiting.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from memcircuit.circuits.elements import AccessTransistorArray, CellArray, Tia
from memcircuit.circuits.sense import OPAMP_SUBCKT, adc_quantise, tia_sense_current
from memcircuit.circuits.transistor import level1_channel
from memcircuit.devices.base import DeviceModel
from memcircuit.errors import ConfigError, ConvergenceError
from memcircuit.netlist import Capacitor, Circuit, External, Resistor, SubcktInstance, VoltageSource
from memcircuit.netlist.arrays import Bus, CapacitorArray, Composite, ElementArray, ResistorArray
from memcircuit.netlist.probes import Current, Probe, Voltage
from memcircuit.solvers.factor import Factorization, FactorPool, factorize

GMIN = 1e-12  # S, ngspice's default gmin across MOSFET junctions

# A group of non-linear two-terminal elements from node a to node b (indices into [x; t]):
# fn(va, vb) -> (current a->b, d/dva, d/dvb), arrays shaped (elements, batch).
ElementFn = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass
class Group:
    name: str
    a: np.ndarray
    b: np.ndarray
    fn: ElementFn


@dataclass
class _Source:
    name: str
    node: int          # node id the source holds (the other end is ground)
    external: bool
    dc: float


class _Flat:
    """The circuit flattened to node ids (0 is ground) and lists of stampable elements."""

    def __init__(self, circuit: Circuit) -> None:
        self.subckts = {s.name.lower(): s for s in circuit.subckts}
        self.count = 1
        self.scalar: dict[tuple[tuple[str, ...], str], int] = {}
        self.buses: dict[tuple[tuple[str, ...], Bus], np.ndarray] = {}
        self.res: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.cells: list[tuple[CellArray, np.ndarray, np.ndarray]] = []
        self.mos: list[tuple[AccessTransistorArray, tuple[np.ndarray, ...]]] = []
        self.tias: list[tuple[Tia, int, tuple[str, ...]]] = []
        self.sources: dict[tuple[tuple[str, ...], str], _Source] = {}
        self.derived: dict[tuple[tuple[str, ...], str], tuple[str, int]] = {}
        self._walk(circuit.elements, (), {})

    def _new(self, k: int = 1) -> np.ndarray:
        ids = np.arange(self.count, self.count + k)
        self.count += k
        return ids

    def _bus_ids(self, path, bus: Bus, used: np.ndarray, ports: dict[str, int]) -> np.ndarray:
        key = (path, bus)
        ids = self.buses.get(key)
        if ids is None:
            ids = self.buses[key] = np.full(bus.size, -1, dtype=np.int64)
        if bus.prefix == "0" and not bus.shape:
            ids[:] = 0
            return ids
        if len(bus.shape) <= 1:  # ports are scalar names: lines and single nodes may be ports
            for k in np.flatnonzero(used & (ids < 0)):
                name = bus.name(int(k))
                if name in ports:
                    ids[k] = ports[name]
                elif (path, name) in self.scalar:
                    ids[k] = self.scalar[(path, name)]
        fresh = used & (ids < 0)
        ids[fresh] = self._new(int(fresh.sum()))
        return ids

    def _pin_ids(self, path, pins, ports) -> np.ndarray:
        out = np.empty(pins.index.size, dtype=np.int64)
        flat_index = pins.index.ravel()
        for b, bus in enumerate(pins.buses):
            sel = pins.on(b)
            used = np.zeros(bus.size, dtype=bool)
            used[flat_index[sel]] = True
            out[sel] = self._bus_ids(path, bus, used, ports)[flat_index[sel]]
        return out

    def _node(self, path, name: str, ports: dict[str, int]) -> int:
        if name == "0":
            return 0
        if name in ports:
            return ports[name]
        for (p, bus), ids in self.buses.items():
            if p == path and name.startswith(bus.prefix) and len(bus.shape) >= 1:
                m = re.fullmatch(r"_".join([r"(\d+)"] * len(bus.shape)), name[len(bus.prefix):])
                if m:
                    idx = tuple(int(g) for g in m.groups())
                    if all(i < n for i, n in zip(idx, bus.shape)):
                        flat = int(np.ravel_multi_index(idx, bus.shape))
                        if ids[flat] < 0:
                            ids[flat] = self._new()[0]
                        return int(ids[flat])
        key = (path, name)
        if key not in self.scalar:
            self.scalar[key] = int(self._new()[0])
        return self.scalar[key]

    def _refuse(self, path, item, why: str = "") -> ConfigError:
        where = ".".join((*path, item.name))
        return ConfigError(f"the nodal solver cannot stamp {type(item).__name__} {where}"
                           + (f": {why}" if why else "") + "; use the spice or hybrid fidelity")

    def _walk(self, items, path: tuple[str, ...], ports: dict[str, int]) -> None:
        items = tuple(items)
        for item in items:  # arrays first: their buses name the nodes scalar elements may share
            if isinstance(item, ElementArray):
                self._array(item, path, ports)
        for item in items:
            if isinstance(item, ElementArray):
                continue
            if isinstance(item, Tia):
                if item.tia.transistor or item.amp != OPAMP_SUBCKT:
                    raise self._refuse(path, item, "only the behavioural op-amp is implemented")
                self.tias.append((item, self._node(path, item.port, ports), path))
                self.derived[(path, item.out.lower())] = ("tia_out", len(self.tias) - 1)
                if item.adc is not None:
                    self.derived[(path, f"q{item.k}")] = ("adc", len(self.tias) - 1)
            elif isinstance(item, Composite):
                raise self._refuse(path, item)
            elif isinstance(item, Resistor):
                if not isinstance(item.resistance, (int, float)):
                    raise self._refuse(path, item, "a behavioural resistance")
                a, b = (self._node(path, n, ports) for n in item.nodes)
                self.res.append((np.array([a]), np.array([b]), np.array([1.0 / item.resistance])))
            elif isinstance(item, Capacitor):
                continue  # open at DC
            elif isinstance(item, VoltageSource):
                a, b = (self._node(path, n, ports) for n in item.nodes)
                if b != 0 and a != 0:
                    raise self._refuse(path, item, "a floating voltage source (neither end at ground)")
                if a == 0 and b == 0:
                    raise self._refuse(path, item, "both ends at ground")
                if a == 0:
                    raise self._refuse(path, item, "its + node is ground")
                self.sources[(path, item.name.lower())] = _Source(item.name.lower(), a, isinstance(item.wave, External),
                                                                   float(item.dc))
            elif isinstance(item, SubcktInstance) and item.subckt.lower() in self.subckts and not item.params:
                sub = self.subckts[item.subckt.lower()]
                inner = {port: self._node(path, node, ports) for port, node in zip(sub.ports, item.nodes)}
                self._walk(sub.elements, (*path, item.name.lower()), inner)
            else:
                raise self._refuse(path, item)

    def _array(self, arr: ElementArray, path, ports) -> None:
        ids = [self._pin_ids(path, p, ports) for p in arr.pins]
        keep = np.flatnonzero(arr.mask())
        if isinstance(arr, CellArray):
            self.cells.append((arr, ids[0], ids[1]))
        elif isinstance(arr, ResistorArray):
            self.res.append((ids[0][keep], ids[1][keep], 1.0 / arr.resistance.ravel()[keep]))
        elif isinstance(arr, CapacitorArray):
            return
        elif isinstance(arr, AccessTransistorArray):
            if arr.transistor.model != "level1":
                raise self._refuse(path, arr, "the level-1 card is implemented, not the PTM 45 nm one")
            # every entry, also those of absent (0 S) cells: their channel keeps the cell's middle
            # node defined and carries no current
            self.mos.append((arr, tuple(ids)))
        else:
            raise self._refuse(path, arr)


@dataclass
class Topology:
    """Node bookkeeping: every node id maps to an unknown (``< n``) or a terminal (``n + k``;
    terminal 0 is ground, then one per voltage source)."""

    n: int
    m: int
    index: np.ndarray                # node id -> merged index
    drive_terms: np.ndarray          # merged index of every external source, in circuit order
    fixed_terms: np.ndarray          # merged index of every DC source
    fixed_values: np.ndarray         # their voltages (V)


class NodalNetwork:
    """A circuit (:mod:`memcircuit.netlist` IR with the typed elements of
    :mod:`memcircuit.circuits.elements`) ready to solve batches at DC.

    The external sources are the inputs of :meth:`solve`, in the circuit's order
    (``circuit.external_sources``). The circuit must hold one cell array; :meth:`set_cells`
    puts new contents in it (linear conductances ``g`` (S), or a ``device`` at ``states``; ohmic
    devices, current = G(x) V, are linear cells of conductance G(x)) without rebuilding anything.
    ``factor_method``: ``"auto"``, ``"cholmod"`` or ``"splu"``; ``pool``: factorisations shared
    with the tile's other networks (:class:`FactorPool`).
    """

    def __init__(self, circuit: Circuit, *, factor_method: str = "auto", pool: FactorPool | None = None) -> None:
        flat = _Flat(circuit)
        if len(flat.cells) != 1:
            raise ConfigError(f"the nodal solver needs exactly one cell array, the circuit has {len(flat.cells)}")
        self.circuit, self.factor_method = circuit, factor_method
        self._flat = flat
        self.cell_array, cell_a, cell_b = flat.cells[0]
        self.shape = self.cell_array.shape
        # two-terminal cells and the TIA (a conductance to ground) keep the matrix symmetric;
        # the access transistor's channel does not
        self.symmetric = not flat.mos
        self.topo = self._topology(circuit)
        self.pool = pool if pool is not None else FactorPool()
        # the unknowns' layout names the matrix; the terminals' numbering does not enter it, so the
        # forward and backward networks of a tile share factorisations of equal matrices
        unknowns = np.where(self.topo.index < self.topo.n, self.topo.index, -1)
        self._layout = (self.topo.n, hashlib.blake2b(unknowns.tobytes(), digest_size=16).hexdigest())
        self._fixed_network(cell_a, cell_b)
        self._g_cells = np.zeros(self._cells.shape[0])
        self._g_version = 0
        self._y_cache: tuple[int, dict[str, sp.spmatrix]] | None = None
        self._lin: tuple[int, Factorization] | None = None  # factorisation of the linear matrix
        self._w: dict = {}  # effective conductance matrices of the present cells
        self._lu0 = self._lu_op = None  # zero-bias and last operating-point factorisations
        self.timing = self.pool.timing  # s: last numeric factorisation, one right-hand side
        cells = self.cell_array
        self.set_cells(g=cells.g, device=cells.device, states=cells.states)

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
            self._w = {}
            device, states = None, None
        elif self._g_cells.any():  # from linear to device cells: the matrix holds the fixed elements only
            self._g_cells = np.zeros(self._cells.shape[0])
            self._g_version += 1
            self._y_cache = None
            self._lin = None
            self._w = {}
        self.groups = self._groups(device, states)
        if self.groups:
            self._w = {}

    @property
    def linear(self) -> bool:
        """True when every element is linear: one factorisation solves any input exactly."""
        return not self.groups

    # -- construction ------------------------------------------------------------------------
    def _topology(self, circuit: Circuit) -> Topology:
        flat = self._flat
        terminal_nodes = [0]
        drive, fixed, values = [], [], []
        seen = {0}
        for src in flat.sources.values():
            if src.node in seen:
                raise ConfigError(f"two sources (or a source and ground) hold one node: {src.name}")
            seen.add(src.node)
            terminal_nodes.append(src.node)
        order = {name: k for k, name in enumerate(circuit.external_sources)}
        total = flat.count
        is_term = np.zeros(total, dtype=bool)
        is_term[terminal_nodes] = True
        unknown = np.flatnonzero(~is_term)
        n = unknown.size
        index = np.empty(total, dtype=np.int64)
        index[unknown] = np.arange(n)
        index[terminal_nodes] = n + np.arange(len(terminal_nodes))
        ext = sorted((order[src.name], int(index[src.node])) for (path, _), src in flat.sources.items()
                     if src.external and not path)
        drive = [k for _, k in ext]
        for (path, _), src in flat.sources.items():
            if src.external and path:
                raise ConfigError(f"external source {src.name} inside a subcircuit: external sources belong "
                                  "at the top level")
            if not src.external:
                fixed.append(int(index[src.node]))
                values.append(src.dc)
        return Topology(n, len(terminal_nodes), index, np.array(drive, dtype=np.int64),
                        np.array(fixed, dtype=np.int64), np.array(values, dtype=float))

    def _fixed_network(self, cell_a: np.ndarray, cell_b: np.ndarray) -> None:
        """The elements that never change (wires, driver resistances, junction gmin of access
        transistors) as one nodal matrix, and the cells' incidence matrix ``D`` (cells x nodes,
        +1 at the first pin, -1 at the second): linear cells add ``D^T diag(g) D``."""
        flat, idx = self._flat, self.topo.index
        a = [idx[r[0]] for r in flat.res]
        b = [idx[r[1]] for r in flat.res]
        val = [r[2] for r in flat.res]
        for _, (d, _, s, bulk) in flat.mos:
            for na in (d, s):
                a.append(idx[na])
                b.append(idx[bulk])
                val.append(np.full(na.size, GMIN))
        size = self.topo.n + self.topo.m
        if a:
            a_all, b_all, v_all = np.concatenate(a), np.concatenate(b), np.concatenate(val)
            keep = a_all != b_all  # an element shorted on one node carries no current
            self.y_fixed = _stamp(a_all[keep], b_all[keep], v_all[keep], size)
        else:  # no wires: every element is a cell
            self.y_fixed = sp.csr_matrix((size, size))
        self._cells = np.stack([idx[cell_a], idx[cell_b]], axis=1)
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
        # the unknowns a right-hand side can reach: next to a driven terminal or a DC source that is
        # not 0 V (sense amplifiers hold 0 V); the pruned solves start from these rows only
        live = np.zeros(self.topo.m)
        live[np.r_[self.topo.drive_terms, self.topo.fixed_terms[self.topo.fixed_values != 0]] - n] = 1.0
        c = self._coupling
        reach = abs(c["ut"]) @ live + abs(c["du"]).T @ (abs(c["dt"]) @ live)
        self._rhs_rows = adj[reach > 0]
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

    def _linear_currents(self, x: np.ndarray | None, t: np.ndarray, part: str = "u",
                         x_adj: np.ndarray | None = None) -> np.ndarray:
        """Currents leaving the unknown (``part="u"``) or terminal (``"t"``) nodes through the
        linear elements, for unknown voltages ``x`` and terminal voltages ``t`` (columns: a
        batch; None: all 0 V), without assembling the matrix of the present cells (cheap when only
        they change). A right-hand side (``x`` None, ``part="u"``) is column-major, as the
        factorisations take it. ``x_adj``: instead of ``x``, its rows next to a terminal (the
        only ones the terminal currents use)."""
        if x is None or part == "t":  # only the couplings to the terminals take part
            c = self._coupling
            across = c["dt"] @ t
            if x is not None and x_adj is None:
                x_adj = x[c["adj"]]
            if x_adj is not None:
                across += c["du"] @ x_adj
            flow = self._g_cells[c["ct"], None] * across
            if part == "u":
                out = np.zeros((self.topo.n, t.shape[1]), order="F")
                out[c["adj"]] = c["ut"] @ t + c["du"].T @ flow
                return out
            out = self._yf["t"][1] @ t + c["dt"].T @ flow
            return out if x_adj is None else out + c["tu"] @ x_adj
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
        flat, idx = self._flat, self.topo.index
        groups: list[Group] = []
        if device is not None:
            shape = self.shape
            x = np.asarray(states, dtype=float).reshape(shape)

            def cell_fn(va, vb, x=x, device=device, shape=shape):
                # device calls see (batch, rows, cols) arrays, so per-cell parameters of shape
                # (rows, cols) (device-to-device variation) broadcast naturally
                v = (va - vb).T.reshape((-1, *shape))
                xs = np.broadcast_to(x, v.shape)
                i = np.asarray(device.current(v, xs), dtype=float).reshape(v.shape[0], -1).T
                g = np.asarray(device.didv(v, xs), dtype=float).reshape(v.shape[0], -1).T
                return i, g, -g

            groups.append(Group("cells", self._cells[:, 0], self._cells[:, 1], cell_fn))
        for arr, (d, gate, s_, _) in flat.mos:
            gate_terms = idx[gate]
            held = dict(zip(self.topo.fixed_terms.tolist(), self.topo.fixed_values.tolist()))
            if not all(int(t) in held for t in np.unique(gate_terms)):
                raise ConfigError(f"the nodal solver needs the gates of {arr.prefix} held by DC sources")
            vg = np.array([held[int(t)] for t in gate_terms])[:, None]

            def mos_fn(vd, vs, t=arr.transistor, vg=vg):
                return level1_channel(vg, vd, vs, t)

            groups.append(Group("access", idx[d], idx[s_], mos_fn))
        if flat.tias:
            gnd = self.topo.n  # terminal 0
            inputs = np.array([idx[node] for _, node, _ in flat.tias])
            tia = flat.tias[0][0].tia
            if any(t.tia != tia for t, _, _ in flat.tias):
                raise ConfigError("the nodal solver takes one TIA design per circuit")

            def tia_fn(va, vb, tia=tia):
                i, di, _ = tia_sense_current(va, tia)
                return i, di, np.zeros_like(di)

            groups.append(Group("tia", inputs, np.full(inputs.shape, gnd), tia_fn))
        return [g for g in groups if g.a.size]

    # -- evaluation --------------------------------------------------------------------------
    def _terminals(self, drive: np.ndarray) -> np.ndarray:
        """Terminal voltages (m, batch) from the external sources' values (sources, batch)."""
        t = np.zeros((self.topo.m, drive.shape[1]))
        t[self.topo.drive_terms - self.topo.n] = drive
        t[self.topo.fixed_terms - self.topo.n] = self.topo.fixed_values[:, None]
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

    def _solve_with(self, f: Factorization, b: np.ndarray, rows: np.ndarray | None = None,
                    want: np.ndarray | None = None) -> np.ndarray:
        t0 = time.perf_counter()
        x = f.solve(b, rows=rows, want=want)
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

    def solve(self, drive: np.ndarray, *, tol: float = 1e-10, max_iter: int = 100,
              terminals_only: bool = False) -> Solution:
        """Solve for a batch: ``drive`` is (batch, driven lines) V. Returns a :class:`Solution`.

        Converged when every node-voltage update is below ``tol`` times the drive scale (and
        1e-15 V) and the node currents balance to ``tol`` times the largest element current.
        ``terminals_only``: only terminal currents will be read (an ideal sense amplifier's
        read); a linear network then solves only the unknowns next to a terminal (exact).
        """
        drive = np.atleast_2d(np.asarray(drive, dtype=float))
        if drive.shape[1] != self.topo.drive_terms.size:
            raise ConfigError(f"the circuit has {self.topo.drive_terms.size} external sources, "
                              f"got {drive.shape[1]} values")
        t = self._terminals(drive.T)
        n = self.topo.n
        batch = drive.shape[0]
        scale_v = max(float(np.max(np.abs(drive), initial=0.0)), 1e-3)
        x = np.zeros((n, batch))
        self._last_iterations = 1
        want = self._coupling["adj"] if terminals_only and self.linear else None
        if n and self.linear:
            x = self._solve_linear(t, scale_v * tol + 1e-15, max_iter, want)
        elif n:
            warm = self._lu_op
            x = self._iterate(warm if warm is not None else self._lu_zero(), x, t, scale_v, tol, max_iter,
                              warm=warm is not None)
        return Solution(self, x, t, self._last_iterations, rows=want)

    def _solve_linear(self, t: np.ndarray, xtol: float, max_iter: int, want: np.ndarray | None = None) -> np.ndarray:
        """A linear network: one solve with the factorisation of the present cells, or, when
        only the cells changed since the last factorisation and a few iterations cost less than
        a new one (a programming interval, a small batch), iterative refinement with the stale
        factorisation (``x -= F_old^-1 r(x)`` with the exact residual), refactorising when it
        contracts slowly. The solve with the present factorisation starts from the rows the
        terminals reach and, with ``want``, answers those unknowns only (x[want])."""
        batch = t.shape[1]
        rhs = self._linear_currents(None, -t)  # linear in t: no pass over the full right-hand side
        current = (self._lin is not None and self._lin[0] == self._g_version) or self.pool.has(self._pool_key())
        f = None if current else self.pool.latest(self._layout)
        t_factor, t_rhs = self.timing["factor"], self.timing["rhs"]
        # ~3 refinement solves against one factorisation and one solve
        cheaper = batch <= 2 if t_factor is None or t_rhs is None else 2.0 * batch * t_rhs < t_factor
        if f is not None and cheaper:
            x = self._solve_with(f, rhs, self._rhs_rows)
            prev = np.inf
            for it in range(2, min(max_iter, 12) + 1):
                dx = self._solve_with(f, self._currents(x, t))
                x -= dx
                step = float(np.max(np.abs(dx)))
                if step <= xtol:
                    self._last_iterations = it
                    return x if want is None else x[want]
                if it >= 3 and step > 0.5 * prev:
                    break
                prev = step
        x = self._solve_with(self.linear_factor(), rhs, self._rhs_rows, want)
        self._last_iterations = 1
        return x

    def source_terminal(self, probe: Current) -> int:
        """The terminal (index into ``[x; t]``) a voltage source holds."""
        src = self._flat.sources.get((tuple(p.lower() for p in probe.path), probe.source.lower()))
        if src is None:
            raise ConfigError(f"no voltage source {'.'.join((*probe.path, probe.source))} in the circuit")
        return int(self.topo.index[src.node])

    def effective_matrices(self, outputs: Sequence[Current]) -> tuple[np.ndarray, np.ndarray]:
        """(W_out (outputs, external sources), W_drive (external sources, external sources)), S:
        the currents of the ``outputs`` (0 V sources: ideal sense amplifiers, ngspice's sign) for
        any input are ``W_out @ drive`` and the currents the external sources deliver
        ``W_drive @ drive``, exactly, IR drop included, while the cells do not change.

        Only for linear networks. Costs one solve per external source with the present
        factorisation, in column blocks so that memory stays bounded."""
        if not self.linear:
            raise ConfigError("an effective conductance matrix exists for linear circuits only")
        key = tuple(outputs)
        if key in self._w and self._w[key][0] == self._g_version:
            return self._w[key][1]
        n = self.topo.n
        d = self.topo.drive_terms - n
        s = np.array([self.source_terminal(p) for p in outputs], dtype=np.int64) - n
        if np.any(self.topo.fixed_values != 0):
            raise ConfigError("an effective conductance matrix needs every other source at 0 V")
        terms = np.concatenate([s, d])
        blocks = self._blocks()
        # current from the network into each terminal: -(Y_tt - Y_tu Y_uu^-1 Y_ut) t; the
        # sources' own currents (into their + node) are the same; drivers deliver the opposite
        w = -blocks["tt"][terms][:, d].toarray()
        if n:
            f = self.linear_factor()
            ut = blocks["ut"].tocsc()
            adj = self._coupling["adj"]  # the terminals see only these unknowns
            tu = blocks["tu"][terms][:, adj]
            chunk = int(max(1, min(128, 2e8 // (8 * n))))  # at most ~200 MB of solutions at a time
            for k in range(0, d.size, chunk):
                b = ut[:, d[k:k + chunk]]
                xd = self._solve_with(f, b.toarray(order="F"), np.unique(b.indices), adj)
                w[:, k:k + chunk] += np.asarray(tu @ xd)
        pair = (w[: s.size], -w[s.size:])
        self._w[key] = (self._g_version, pair)
        return pair

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
        """Full Newton for one input, damped by backtracking: a step is halved until the node
        currents' residual shrinks (Armijo). A TIA's input current is steep in a band of about
        ``swing / A`` volts and flat beyond, so a full step from the flat side can jump across the
        band and back for ever; with backtracking every accepted step reduces the residual, and
        near the solution full steps converge quadratically."""
        x = x.reshape(-1, 1).copy()
        t = t.reshape(-1, 1)

        def residual(x):
            f, stamps = self._nonlinear(np.vstack([x, t]), jacobian="each")
            return self._linear_currents(x, t) + f[: self.topo.n], stamps

        r, stamps = residual(x)
        step = np.inf
        for _ in range(max_iter):
            dx = self._factor(self._jacobian(stamps, 0)).solve(r)
            step = float(np.max(np.abs(dx)))
            if step <= xtol:  # converged: the full Newton update is below the tolerance
                return (x - dx)[:, 0]
            if step > limit:
                dx *= limit / step
            norm = float(np.linalg.norm(r))
            scale = 1.0
            for _ in range(40):
                x_new = x - scale * dx
                r_new, stamps_new = residual(x_new)
                if float(np.linalg.norm(r_new)) <= (1 - 1e-4 * scale) * norm:
                    break
                scale *= 0.5
            x, r, stamps = x_new, r_new, stamps_new
        raise ConvergenceError(f"numeric solver: Newton did not converge in {max_iter} iterations "
                               f"(last update {step:.3g} V)")


@dataclass
class Solution:
    """Node voltages of a solved batch, read through probes."""

    network: NodalNetwork
    x: np.ndarray          # (n, batch) unknown node voltages, or their ``rows`` only
    t: np.ndarray          # (m, batch) terminal voltages
    iterations: int = 1
    rows: np.ndarray | None = None  # x holds only these unknowns (those next to a terminal)

    def _full(self) -> np.ndarray:
        if self.rows is not None:
            raise ConfigError("this solution holds the terminal currents only (solved with terminals_only)")
        return self.x

    @property
    def z(self) -> np.ndarray:
        return np.vstack([self._full(), self.t])

    def _node_values(self, ids: np.ndarray) -> np.ndarray:
        self._full()
        idx = self.network.topo.index[ids]
        n = self.network.topo.n
        return np.where((idx < n)[..., None], self.x[np.minimum(idx, n - 1)] if n else 0.0,
                        self.t[np.maximum(idx - n, 0)])

    def terminal_currents(self) -> np.ndarray:
        """Current (A) flowing from the network into every terminal, (m, batch)."""
        net = self.network
        if self.rows is not None:  # a linear network's unknowns next to a terminal
            return -net._linear_currents(None, self.t, "t", x_adj=self.x)
        return -net._currents(self.x, self.t, "t")

    def value(self, probe: Probe) -> np.ndarray:
        """(batch,) value of a :class:`Voltage` (V) or :class:`Current` (A, into the source's +
        node) probe. TIA outputs and ADC codes are the closed-form values of the behavioural
        amplifier at its solved input."""
        net, flat = self.network, self.network._flat
        if isinstance(probe, Current):
            return self.terminal_currents()[net.source_terminal(probe) - net.topo.n]
        if not isinstance(probe, Voltage):
            raise ConfigError(f"the nodal solver has no value for {probe!r}")
        path = tuple(p.lower() for p in probe.path)
        derived = flat.derived.get((path, probe.node.lower()))
        if derived is not None:
            tia, node, _ = flat.tias[derived[1]]
            out = tia_sense_current(self._node_values(np.array([node]))[0], tia.tia)[2]
            return adc_quantise(out, tia.adc) if derived[0] == "adc" else out
        if probe.node == "0":
            return np.zeros(self.t.shape[1])
        node = flat.scalar.get((path, probe.node))
        if node is None:
            for (bus_path, bus), ids in flat.buses.items():
                m = re.fullmatch(re.escape(bus.prefix) + "_".join([r"(\d+)"] * len(bus.shape)), probe.node)
                if bus_path == path and m and bus.shape:
                    k = np.ravel_multi_index(tuple(int(g) for g in m.groups()), bus.shape)
                    if ids[k] >= 0:
                        node = int(ids[k])
                        break
        if node is None:
            raise ConfigError(f"no node {'.'.join((*probe.path, probe.node))} in the solved circuit")
        return self._node_values(np.array([node]))[0]

    def values(self, probes: Sequence[Probe]) -> np.ndarray:
        """(batch, probes) values of :meth:`value`."""
        if not probes:
            return np.zeros((self.t.shape[1], 0))
        currents = None
        cols = []
        for p in probes:
            if isinstance(p, Current):
                if currents is None:
                    currents = self.terminal_currents()
                cols.append(currents[self.network.source_terminal(p) - self.network.topo.n])
            else:
                cols.append(self.value(p))
        return np.stack(cols, axis=1)

    def source_currents(self, probes: Sequence[Current]) -> np.ndarray:
        """(batch, sources): current (A) into each source's + node (vectorised :meth:`value`)."""
        net = self.network
        terms = np.array([net.source_terminal(p) for p in probes], dtype=np.int64) - net.topo.n
        return self.terminal_currents()[terms].T

    def external_currents(self) -> np.ndarray:
        """(batch, external sources): current (A) each external source delivers into the network."""
        net = self.network
        return -self.terminal_currents()[net.topo.drive_terms - net.topo.n].T

    def cell_voltages(self) -> np.ndarray:
        """(batch, *cell shape): voltage across each cell element (first pin minus second)."""
        net = self.network
        top, bottom = net._cells.T  # merged index of each cell's two ends
        # gathers along the unknowns of each input: the solution is column-major (one contiguous
        # vector per input), and so is each input's block of the answer
        z = self._full().T if max(top.max(initial=-1), bottom.max(initial=-1)) < net.topo.n else self.z.T
        v = np.take(z, top, axis=1)
        v -= np.take(z, bottom, axis=1)
        return v.reshape((-1, *net.shape))


def _stamp(a: np.ndarray, b: np.ndarray, g: np.ndarray, size: int) -> sp.csr_matrix:
    """Nodal matrix of conductances ``g`` between nodes ``a`` and ``b``."""
    rows = np.concatenate([a, b, a, b])
    cols = np.concatenate([a, b, b, a])
    vals = np.concatenate([g, g, -g, -g])
    return sp.coo_matrix((vals, (rows, cols)), shape=(size, size)).tocsr()
