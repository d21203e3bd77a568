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
``scripts/bench_scale.py`` compares both on the same matrices; CHOLMOD comes from scikit-sparse
on the system SuiteSparse (installed by ``scripts/setup.sh``).
"""

from __future__ import annotations

import hashlib
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


def _cholmod():
    """The scikit-sparse CHOLMOD module, or None when it is not installed."""
    try:  # optional: the `sparse` extra builds only where the SuiteSparse headers are installed
        from sksparse import cholmod
    except ImportError:
        return None
    limit_threads(force=True)  # SuiteSparse's BLAS is loaded now: one thread unless configured
    return cholmod


_MODULE: list = []


def cholmod_available() -> bool:
    """True when scikit-sparse's CHOLMOD can be imported."""
    if not _MODULE:
        _MODULE.append(_cholmod())
    return _MODULE[0] is not None


@dataclass
class Factorization:
    """A factorised square matrix: :meth:`solve` takes (n,) or (n, k) right-hand sides."""

    method: str
    handle: Any
    n: int

    def solve(self, b: np.ndarray) -> np.ndarray:
        """``A^-1 b``. CHOLMOD works on and answers in column-major (Fortran) order: a
        column-major ``b`` is solved without a copy, and the answer stays column-major (many
        right-hand sides of a large network: a copy costs a tenth of the solve)."""
        b = np.asarray(b, dtype=float)
        if b.size == 0:
            return np.zeros_like(b)
        if self.method == "cholmod":
            return self.handle(b if b.ndim == 1 else np.asfortranarray(b))
        return self.handle.solve(b)


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


def _symbolic(a: sp.csc_matrix):
    key = _pattern_key(a)
    sym = _SYMBOLIC.get(key)
    if sym is None:
        mode = "simplicial" if a.shape[0] <= SIMPLICIAL_MAX else "supernodal"
        sym = _MODULE[0].analyze(a, mode=mode, ordering_method="nesdis")
        _SYMBOLIC[key] = sym
        while len(_SYMBOLIC) > _SYMBOLIC_KEEP:
            _SYMBOLIC.popitem(last=False)
    else:
        _SYMBOLIC.move_to_end(key)
    return sym


def _splu(a: sp.csc_matrix) -> Factorization:
    lu = spla.splu(a, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.1, options={"SymmetricMode": True})
    return Factorization("splu", lu, a.shape[0])


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
        raise ConfigError("CHOLMOD is not installed (scikit-sparse; run scripts/setup.sh)")
    if not symmetric:
        raise ConfigError("CHOLMOD factorises symmetric matrices only")
    limit_threads()
    try:
        handle = _symbolic(a).cholesky(a)
    except _MODULE[0].CholmodNotPositiveDefiniteError:
        if method == "cholmod":
            raise ConfigError("CHOLMOD: the nodal matrix is not positive definite") from None
        return _splu(a)
    convert = getattr(handle, "_ensure_L_or_LD_inplace", None)  # scikit-sparse 0.4 (pinned)
    if convert is not None and SIMPLICIAL_MAX < a.shape[0] <= CONVERT_MAX:
        convert(False)  # supernodal LL^T -> simplicial LDL^T, in place (cholmod_change_factor)
    return Factorization("cholmod", handle, a.shape[0])


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
