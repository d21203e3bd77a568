"""Sparse direct factorisations of nodal matrices, with the fill-reducing ordering computed once
per topology.

A crossbar's nodal matrix is a two-layer 2-D mesh (row wires, column wires, one cell between
them at every crossing). For symmetric positive-definite matrices (resistive networks with a
path to a driven node: wires, linear or ohmic cells, the chord Jacobians of two-terminal cells)
CHOLMOD's Cholesky (simplicial LDL^T, supernodal LL^T above SIMPLICIAL_MAX unknowns) with METIS
nested dissection (Chen, Davis, Hager and Rajamanickam, ACM TOMS 35(3), 2008; George, SIAM J.
Numer. Anal. 10(2), 1973) has the least fill for such meshes; its symbolic analysis depends only
on the sparsity pattern, so it is cached by pattern and every new conductance state pays only the
numeric factorisation. Unsymmetric matrices (access transistors) and matrices CHOLMOD finds
indefinite use SuperLU (``splu``) with a symmetric-pattern minimum-degree ordering.
``scripts/bench_scale.py`` compares both on the same matrices.

CHOLMOD is the system SuiteSparse's (installed by ``scripts/setup.sh``), called through the
project's own binding (:mod:`memcircuit.solvers.native`), whose solve kernels work on the
simplicial factor's arrays: a right-hand side non-zero only at the line ends where drivers attach
reaches a fraction of L's columns (the forward solve visits only those), and terminal currents
need only the unknowns next to a terminal (the backward solve visits only their ancestors in the
elimination tree). Both prunings are exact. Where the binding cannot be built, the log says so
once and SuperLU factorises everything.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from memcircuit.errors import ConfigError
from memcircuit.threads import limit_threads

FACTOR_METHODS = ("auto", "cholmod", "splu")
_SYMBOLIC: OrderedDict[tuple, Any] = OrderedDict()  # sparsity pattern -> CHOLMOD symbolic factor
_SYMBOLIC_KEEP = 8
_NATIVE: list = []  # [_Native or None]
log = logging.getLogger(__name__)


class _Native:
    """The project's CHOLMOD binding (:mod:`memcircuit.solvers.native`): one ``cholmod_common``
    per process."""

    def __init__(self, lib) -> None:
        self.lib = lib
        self.common = lib.mc_start()
        # CHOLMOD keeps its workspace in the common: calls that take it run one at a time (ctypes
        # releases the GIL, so a caller's threads could enter together); the solve kernels do not
        # use it.
        self.lock = threading.RLock()
        limit_threads(force=True)  # CHOLMOD's BLAS is loaded now: one thread unless configured

    def __del__(self) -> None:
        if getattr(self, "common", None):
            self.lib.mc_finish(self.common)


def _native() -> _Native | None:
    """The CHOLMOD binding, or None when it cannot be built or loaded here (said once in the log)."""
    if not _NATIVE:
        from memcircuit.solvers import native

        lib = native.library()
        _NATIVE.append(_Native(lib) if lib is not None else None)
        if lib is None:
            log.warning("CHOLMOD unavailable (%s): SuperLU factorises every nodal matrix", native.unavailable_reason())
    return _NATIVE[0]


def cholmod_available() -> bool:
    """True when the CHOLMOD binding is built and loaded (``scripts/setup.sh`` builds it)."""
    return _native() is not None


@dataclass
class Factorization:
    """A factorised square matrix: :meth:`solve` takes (n,) or (n, k) right-hand sides."""

    method: str
    handle: Any
    n: int

    def solve(self, b: np.ndarray, *, rows: np.ndarray | None = None, want: np.ndarray | None = None) -> np.ndarray:
        """``A^-1 b``, or its rows ``want`` (an index array: the answer is (want.size,) or
        (want.size, k)). ``rows``: the rows where ``b`` may be non-zero (the others must be 0);
        a CHOLMOD factor then solves only what those rows reach and what ``want`` needs (exact),
        SuperLU solves in full. CHOLMOD's full answers are column-major (one contiguous vector per
        input), as the cell-voltage gathers want them."""
        b = np.asarray(b, dtype=float)
        x = np.zeros_like(b) if b.size == 0 else self.handle.solve(b)
        return x if want is None else x[want]


class _Symbolic:
    """A native symbolic factor of one sparsity pattern, with what its numeric factors share:
    the permutation and its inverse, the elimination tree of a simplicial L, and the reaches of
    the node sets solves were pruned to (a few, newest kept)."""

    def __init__(self, native: _Native, handle, n: int) -> None:
        self.native, self.handle, self.n = native, handle, n
        self.inverse: np.ndarray | None = None
        self.parent: np.ndarray | None = None
        self.reaches: OrderedDict[bytes, np.ndarray] = OrderedDict()

    def __del__(self) -> None:
        if getattr(self, "handle", None):
            with self.native.lock:
                self.native.lib.mc_free_factor(self.native.common, self.handle)

    def reach(self, nodes: np.ndarray) -> np.ndarray:
        """The columns of L that are ancestors of the (permuted) ``nodes`` or the nodes
        themselves, increasing (a topological order of the elimination tree)."""
        with self.native.lock:  # the cache is shared by every caller's threads
            return self._reach(np.ascontiguousarray(nodes, dtype=np.int64))

    def _reach(self, nodes: np.ndarray) -> np.ndarray:
        key = hashlib.blake2b(nodes.tobytes(), digest_size=16).digest()
        cols = self.reaches.get(key)
        if cols is None:
            mark = np.zeros(self.n, dtype=np.uint8)
            self.native.lib.mc_reach(self.parent.ctypes.data, nodes.size, nodes.ctypes.data, mark.ctypes.data)
            cols = self.reaches[key] = np.flatnonzero(mark).astype(np.int64)
            while len(self.reaches) > _REACH_KEEP:
                self.reaches.popitem(last=False)
        else:
            self.reaches.move_to_end(key)
        return cols


_REACH_KEEP = 16


class _NativeFactor:
    """A numeric CHOLMOD factor made by the native binding; its arrays are views of CHOLMOD's."""

    def __init__(self, sym: _Symbolic, handle) -> None:
        self.sym, self.handle, n = sym, handle, sym.n
        lib = sym.native.lib
        ptrs = [ctypes.c_void_p() for _ in range(5)]
        self.simplicial = bool(lib.mc_factor_arrays(handle, *(ctypes.byref(p) for p in ptrs)))

        def view(ptr, size, ctype):
            return np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctype)), shape=(size,))

        self.perm = view(ptrs[0], n, ctypes.c_int64)
        if sym.inverse is None:  # built whole before it is shared (another thread may read it)
            inverse = np.empty(n, dtype=np.int64)
            inverse[self.perm] = np.arange(n)
            sym.inverse = inverse
        if self.simplicial:
            self.lp, self.li, self.lx, self.lnz = (p.value for p in ptrs[1:])
            if sym.parent is None:
                parent = np.empty(n, dtype=np.int64)
                lib.mc_etree(n, self.lp, self.li, self.lnz, parent.ctypes.data)
                sym.parent = parent

    def __del__(self) -> None:
        if getattr(self, "handle", None):
            with self.sym.native.lock:
                self.sym.native.lib.mc_free_factor(self.sym.native.common, self.handle)


@dataclass
class NativeFactorization(Factorization):
    """A CHOLMOD factorisation of the native binding: solves with its own kernels on the
    simplicial LDL^T (right-hand sides stored contiguously per unknown, so L is read once for all
    of them; forward over the reach of the non-zero rows, backward over the ancestors of the wanted
    rows), CHOLMOD's full solve for a supernodal factor. Full answers are column-major."""

    def solve(self, b: np.ndarray, *, rows: np.ndarray | None = None, want: np.ndarray | None = None) -> np.ndarray:
        b = np.asarray(b, dtype=float)
        f: _NativeFactor = self.handle
        lib = f.sym.native.lib
        if b.size == 0:
            x = np.zeros_like(b)
            return x if want is None else x[want]
        b2 = b.reshape(self.n, -1)
        k = b2.shape[1]
        if not f.simplicial:
            src = np.asfortranarray(b2)
            x = np.empty((self.n, k), order="F")
            with f.sym.native.lock:
                failed = lib.mc_solve_full(f.sym.native.common, f.handle, self.n, k, src.ctypes.data, x.ctypes.data)
            if failed:
                raise MemoryError("CHOLMOD could not solve (out of memory)")
            x = x.reshape(b.shape) if b.ndim == 1 else x
            return x if want is None else x[want]
        sym = f.sym
        inverse = sym.inverse
        if rows is None:
            y, src = np.empty((self.n, k)), np.asfortranarray(b2)  # src held: C reads its memory
            lib.mc_permute(self.n, k, inverse.ctypes.data, src.ctypes.data, y.ctypes.data)
            forward = None
        else:
            rows = np.asarray(rows, dtype=np.int64)
            y = np.zeros((self.n, k))
            y[inverse[rows]] = b2[rows]
            forward = sym.reach(inverse[rows])
        backward = None if want is None else sym.reach(inverse[want])
        for kernel, cols in ((lib.mc_forward, forward), (lib.mc_backward, backward)):
            if cols is None:
                kernel(f.lp, f.li, f.lx, f.lnz, self.n, None, k, y.ctypes.data)
            else:
                kernel(f.lp, f.li, f.lx, f.lnz, cols.size, cols.ctypes.data, k, y.ctypes.data)
        if want is None:  # column-major, as CHOLMOD answers (one contiguous vector per input)
            x = np.empty((self.n, k), order="F")
            lib.mc_unpermute(self.n, k, inverse.ctypes.data, y.ctypes.data, x.ctypes.data)
        else:
            x = np.take(y, inverse[want], axis=0)
        return x.reshape(-1) if b.ndim == 1 else x


def _pattern_key(a: sp.csc_matrix) -> tuple:
    digest = hashlib.blake2b(a.indptr.tobytes(), digest_size=16)
    digest.update(a.indices.tobytes())
    return a.shape, a.nnz, digest.hexdigest()


# Up to this many unknowns the simplicial LDL^T is used throughout: at 512 x 512 (524,288
# unknowns, 100 right-hand sides) a simplicial factorisation and its solves took 3.6-3.9 CPU s
# where the supernodal factorisation converted to simplicial for its solves took 3.4-4.8 and the
# supernodal one throughout 5.3-8.1 (side-by-side runs on a shared 2-core machine; CHOLMOD's
# supernodal solve of a nested-dissection mesh factor, with its many small supernodes, is 2-3x
# slower than the simplicial one). scripts/bench_scale.py measures the sizes in use.
SIMPLICIAL_MAX = 600_000
# Above SIMPLICIAL_MAX the supernodal factorisation (dense BLAS kernels, ahead as the fill grows)
# is made and converted in place to a simplicial LDL^T for the solves, up to this many unknowns:
# the conversion costs 2-8 % of the factorisation but briefly holds the factor twice, which a
# 1024 x 1024 tile (2.1 million unknowns, 3.1 GB peak) cannot afford under its 4 GB target; it
# keeps the supernodal solve.
CONVERT_MAX = 1_000_000


def _symbolic(a: sp.csc_matrix, native: _Native) -> _Symbolic:
    with native.lock:
        return _symbolic_locked(a, native)


def _symbolic_locked(a: sp.csc_matrix, native: _Native) -> _Symbolic:
    key = _pattern_key(a)
    sym = _SYMBOLIC.get(key)
    if sym is None:
        ap, ai = (np.ascontiguousarray(v, dtype=np.int64) for v in (a.indptr, a.indices))
        supernodal = int(a.shape[0] > SIMPLICIAL_MAX)
        handle = native.lib.mc_analyze(native.common, a.shape[0], ap.ctypes.data, ai.ctypes.data, supernodal)
        if not handle:
            raise MemoryError(f"CHOLMOD could not analyse a {a.shape[0]}-unknown matrix")
        _SYMBOLIC[key] = sym = _Symbolic(native, handle, a.shape[0])
        while len(_SYMBOLIC) > _SYMBOLIC_KEEP:
            _SYMBOLIC.popitem(last=False)
    else:
        _SYMBOLIC.move_to_end(key)
    return sym


def _splu(a: sp.csc_matrix) -> Factorization:
    lu = spla.splu(a, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.1, options={"SymmetricMode": True})
    return Factorization("splu", lu, a.shape[0])


def _native_factor(a: sp.csc_matrix, native: _Native) -> Factorization | None:
    """The native CHOLMOD factorisation of ``a``, or None when it is not positive definite."""
    sym = _symbolic(a, native)
    ap, ai = (np.ascontiguousarray(v, dtype=np.int64) for v in (a.indptr, a.indices))
    ax = np.ascontiguousarray(a.data, dtype=float)
    out = ctypes.c_void_p()
    convert = int(SIMPLICIAL_MAX < a.shape[0] <= CONVERT_MAX)  # supernodal LL^T -> simplicial LDL^T
    with native.lock:
        status = native.lib.mc_factorize(native.common, sym.handle, a.shape[0], ap.ctypes.data, ai.ctypes.data,
                                         ax.ctypes.data, convert, ctypes.byref(out))
    if status < 0:
        raise MemoryError(f"CHOLMOD could not factorise a {a.shape[0]}-unknown matrix (out of memory)")
    if status == 1:
        return None
    return NativeFactorization("cholmod", _NativeFactor(sym, out.value), a.shape[0])


def factorize(a: sp.spmatrix, *, symmetric: bool, method: str = "auto") -> Factorization:
    """Factorise the square sparse matrix ``a``.

    ``symmetric``: the caller guarantees ``a == a.T`` (the solver never checks the values).
    ``method``: ``"auto"`` (CHOLMOD for symmetric matrices when installed, falling back to
    ``splu`` when CHOLMOD finds the matrix not positive definite), ``"cholmod"`` (an error when it
    is not installed or the matrix is unsymmetric) or ``"splu"``.
    """
    if method not in FACTOR_METHODS:
        raise ConfigError(f"factorisation method must be one of {', '.join(FACTOR_METHODS)}, got {method!r}")
    a = sp.csc_matrix(a)
    a.sort_indices()
    if method == "splu" or (method == "auto" and not (symmetric and cholmod_available())):
        return _splu(a)
    if not cholmod_available():
        from memcircuit.solvers import native

        raise ConfigError(f"CHOLMOD is unavailable ({native.unavailable_reason()}; scripts/setup.sh installs "
                          "SuiteSparse and a C compiler and builds it)")
    if not symmetric:
        raise ConfigError("CHOLMOD factorises symmetric matrices only")
    limit_threads()
    made = _native_factor(a, _native())
    if made is None:
        if method == "cholmod":
            raise ConfigError("CHOLMOD: the nodal matrix is not positive definite") from None
        return _splu(a)
    return made


class FactorPool:
    """Factorisations shared by the networks of one tile.

    The forward, backward and programming networks of a tile whose drivers have no output
    resistance have the same nodal matrix; :meth:`get` returns the factorisation of an equal
    matrix (the caller names it by its layout, fixed elements and cell values) when one exists.
    :meth:`latest` gives the newest factorisation of a network layout (``layout``: any hashable
    naming the unknowns), which starts iterative refinement after the cells changed a little (a
    programming interval)."""

    def __init__(self, keep: int = 4) -> None:
        self.keep = keep
        self.timing: dict[str, float | None] = {"factor": None, "rhs": None}  # s, shared by the networks
        self._exact: OrderedDict[tuple, Factorization] = OrderedDict()
        self._latest: dict[Any, Factorization] = {}

    def get(self, key: Any, make, layout: Any) -> Factorization:
        """The factorisation stored under ``key`` (a name of the matrix: equal keys, equal
        matrices), else ``make()``'s, stored."""
        f = self._exact.get(key)
        if f is None:
            f = make()
            self._exact[key] = f
            while len(self._exact) > self.keep:
                self._exact.popitem(last=False)
        self._latest[layout] = f
        return f

    def has(self, key: Any) -> bool:
        return key in self._exact

    def latest(self, layout: Any) -> Factorization | None:
        return self._latest.get(layout)
