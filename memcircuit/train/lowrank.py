"""Low-rank decomposition of the mini-batch gradient: streaming batch PCA and NMF (paper 4).

The gradient of a fully connected layer over a mini-batch of ``B`` samples is
``G = x^T delta`` (``x`` (B, n_rows) layer inputs with the bias, ``delta`` (B, n_cols) output
errors), an ``n_rows x n_cols`` matrix that a full mini-batch gradient descent (MBGD) periphery
must hold. Both decompositions here give ``G ~ sum_r u_r v_r^T`` as
:class:`~memcircuit.train.optimizers.base.Factored` factors, so the periphery keeps ``k`` row
vectors and ``k`` column vectors instead of the full matrix (Zhao, Huang, Yousuf, Gao, Hoskins
and Adam, "Gradient decomposition methods for training neural networks with non-ideal synaptic
devices", Front. Neurosci. 15:749811, 2021).

* :class:`StreamingBatchPCA`: one warm-started block power iteration per mini-batch (Hoskins et
  al., "Streaming batch eigenupdates for hardware neural networks", Front. Neurosci. 13:793,
  2019; Huang et al., "Memory-efficient training with streaming dimensionality reduction",
  arXiv:2004.12041, 2020). The right-singular basis ``Q`` (n_cols x k) of the previous batch
  starts the iteration ``U = orth(G Q)``, ``V = G^T U``; ``G`` is only applied through ``x`` and
  ``delta`` (``G Q = x^T (delta Q)``), never formed. A k x n_cols SVD of ``V^T`` then orders the
  rank-1 terms by singular value. The result ``U U^T G`` is the exact projection of ``G`` onto
  the tracked k-dimensional row subspace.
* :class:`StreamingNMF`: scikit-learn's :class:`sklearn.decomposition.NMF` (coordinate descent,
  Cichocki and Phan, IEICE Trans. E92-A(3), 2009) of the positive and negative parts
  ``G = G+ - G-`` separately at rank ``k`` each, so every rank-1 term is one-signed
  (``u >= 0``, ``v >= 0`` or ``v <= 0``), as in the XBTorch implementation of the same group
  (Adam lab). With ``streaming=True`` the factors of the previous batch warm-start the next
  factorisation ("naive streaming"). NMF needs ``G`` itself, so its working memory includes the
  full matrix while it factorises (reported).

Memory is counted in stored numbers (floats) held by the periphery: ``persistent`` between
mini-batches, ``working`` at the peak of one update. The batch activations and errors, which the
back-propagation needs anyway, are not counted for any method.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from memcircuit.errors import ConfigError
from memcircuit.train.optimizers.base import Factored
from memcircuit.train.pulses import require_finite

METHODS = ("pca", "nmf")


@dataclass(frozen=True)
class PeripheryMemory:
    """Numbers (floats) the periphery holds for one layer's update rule."""

    persistent: int
    working: int

    def to_json(self) -> dict[str, int]:
        return {"persistent": self.persistent, "working": self.working}


def dense_memory(n_rows: int, n_cols: int) -> PeripheryMemory:
    """MBGD (rank-sum of the full gradient): one accumulator per synapse."""
    return PeripheryMemory(n_rows * n_cols, n_rows * n_cols)


def _check_rank(rank: int, n_rows: int, n_cols: int) -> int:
    if not isinstance(rank, (int, np.integer)) or rank < 1:
        raise ConfigError(f"decomposition rank must be an integer >= 1, got {rank!r}")
    if n_rows < 1 or n_cols < 1:
        raise ConfigError(f"layer shape must be positive, got {n_rows} x {n_cols}")
    return int(min(rank, n_rows, n_cols))


def _gradient_inputs(x: np.ndarray, delta: np.ndarray, n_rows: int, n_cols: int) -> tuple[np.ndarray, np.ndarray]:
    x, delta = np.asarray(x, float), np.asarray(delta, float)
    if x.ndim != 2 or delta.ndim != 2 or x.shape[0] != delta.shape[0]:
        raise ConfigError(f"gradient factors must be (batch, {n_rows}) and (batch, {n_cols}), "
                          f"got {x.shape} and {delta.shape}")
    if x.shape[1] != n_rows or delta.shape[1] != n_cols:
        raise ConfigError(f"gradient factors must be (batch, {n_rows}) and (batch, {n_cols}), "
                          f"got {x.shape} and {delta.shape}")
    require_finite("the gradient", x, delta)
    return x, delta


class StreamingBatchPCA:
    """Rank-``k`` streaming batch PCA of ``G = x^T delta`` for one layer (see module doc).

    ``power_iters`` block power iterations per batch (1 in the streaming papers), warm-started
    from the previous batch's basis; ``rng`` draws the first basis.
    """

    method = "pca"

    def __init__(self, rank: int, n_rows: int, n_cols: int, rng: np.random.Generator, power_iters: int = 1) -> None:
        self.rank = _check_rank(rank, n_rows, n_cols)
        if power_iters < 1:
            raise ConfigError(f"power iterations must be >= 1, got {power_iters}")
        self.n_rows, self.n_cols, self.power_iters = n_rows, n_cols, int(power_iters)
        self.q = np.linalg.qr(rng.standard_normal((n_cols, self.rank)))[0]

    def decompose(self, x: np.ndarray, delta: np.ndarray) -> Factored:
        """Rank-1 terms of the batch gradient, largest singular value first."""
        x, delta = _gradient_inputs(x, delta, self.n_rows, self.n_cols)
        q = self.q
        for _ in range(self.power_iters):
            gq = x.T @ (delta @ q)
            require_finite("the projected batch gradient", gq)   # finite factors can still overflow
            u = np.linalg.qr(gq)[0]                        # (n_rows, k): orth(G Q)
            v = delta.T @ (x @ u)                          # (n_cols, k): G^T U
            require_finite("the projected batch gradient", v)
            q_next, r = np.linalg.qr(v)
            if np.all(np.abs(np.diag(r)) > 1e-300):        # keep the old basis where G has no energy
                q = q_next
        self.q = q
        a, s, bt = np.linalg.svd(v.T, full_matrices=False)  # V^T = A S B^T (k x n_cols)
        left = (u @ a) * s                                 # (n_rows, k): singular vectors x values
        return Factored(left.T.copy(), bt.copy())

    def memory(self) -> PeripheryMemory:
        """Persistent: the basis Q; working: U, V and the singular values."""
        k = self.rank
        return PeripheryMemory(k * self.n_cols, k * (self.n_rows + self.n_cols) + k)

    def state(self) -> dict[str, np.ndarray]:
        return {"q": self.q}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.q = np.array(state["q"], dtype=float).reshape(self.n_cols, self.rank)


def balanced_warm_start(w: np.ndarray, h: np.ndarray, target_max: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Previous factors ``W`` (n, k), ``H`` (k, m) as a warm start for a matrix whose largest entry
    is ``target_max``, or None when they cannot start one (a component is all zero or not finite).

    NMF is invariant to ``w_r s``, ``h_r / s`` per component and the coordinate-descent solver
    keeps whatever split it is given, so over many warm-started batches the split drifts like a
    random walk: on digits (64-24-10, seed 11) after five epochs ``|w_r|`` was 1e-155 and
    ``|h_r|`` 1e153, and the next batch overflowed to inf and NaN. Each component is therefore
    rebalanced to ``|w_r| = |h_r|`` and the product rescaled to the new matrix's magnitude.
    """
    wn, hn = np.linalg.norm(w, axis=0), np.linalg.norm(h, axis=1)
    if not (np.all(np.isfinite(wn)) and np.all(np.isfinite(hn)) and np.all(wn > 0) and np.all(hn > 0)):
        return None
    split = np.sqrt(hn) / np.sqrt(wn)   # no overflow of the ratio itself
    w, h = w * split, h / split[:, None]
    peak = float((w @ h).max())
    if not (peak > 0 and np.isfinite(peak) and target_max > 0):
        return None
    scale = np.sqrt(target_max / peak)
    return w * scale, h * scale


class StreamingNMF:
    """Rank-``k`` NMF of the positive and negative parts of ``G = x^T delta`` (see module doc).

    ``max_iter``/``tol`` go to scikit-learn's coordinate-descent solver; ``streaming`` reuses the
    previous batch's factors as the initial guess (``init="custom"``), otherwise each batch starts
    from NNDSVDa (Boutsidis and Gallopoulos, Pattern Recognition 41(4), 2008).
    """

    method = "nmf"

    def __init__(self, rank: int, n_rows: int, n_cols: int, rng: np.random.Generator, *, streaming: bool = True,
                 max_iter: int = 200, tol: float = 1e-4) -> None:
        self.rank = _check_rank(rank, n_rows, n_cols)
        if max_iter < 1 or not tol > 0:
            raise ConfigError(f"NMF needs max_iter >= 1 and tol > 0, got {max_iter}, {tol}")
        self.n_rows, self.n_cols = n_rows, n_cols
        self.streaming, self.max_iter, self.tol = bool(streaming), int(max_iter), float(tol)
        self.seed = int(rng.integers(2**31 - 1))
        self.factors: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def _factorise(self, key: str, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.decomposition import NMF

        prev = self.factors.get(key) if self.streaming else None
        start = balanced_warm_start(prev[0], prev[1], float(m.max())) if prev is not None else None
        model = NMF(n_components=self.rank, init="custom" if start is not None else "nndsvda", solver="cd",
                    max_iter=self.max_iter, tol=self.tol, random_state=self.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter: the streaming papers stop early too
            w = model.fit_transform(m, W=start[0], H=start[1]) if start is not None else model.fit_transform(m)
        h = model.components_
        self.factors[key] = (w, h)
        return w, h

    def decompose(self, x: np.ndarray, delta: np.ndarray) -> Factored:
        """Up to ``2k`` one-signed rank-1 terms: ``k`` of ``G+`` (v >= 0), then ``k`` of ``G-`` (v <= 0)."""
        x, delta = _gradient_inputs(x, delta, self.n_rows, self.n_cols)
        g = x.T @ delta
        require_finite("the batch gradient", g)            # finite factors can still overflow
        us, vs = [], []
        for key, sign, part in (("pos", 1.0, np.maximum(g, 0.0)), ("neg", -1.0, np.maximum(-g, 0.0))):
            if not np.any(part > 0):
                continue
            w, h = self._factorise(key, part)
            for r in np.argsort(-np.linalg.norm(w, axis=0) * np.linalg.norm(h, axis=1)):
                us.append(w[:, r])
                vs.append(sign * h[r])
        if not us:
            return Factored(np.zeros((0, self.n_rows)), np.zeros((0, self.n_cols)))
        return Factored(np.array(us), np.array(vs))

    def memory(self) -> PeripheryMemory:
        """Persistent: W+, H+, W-, H- (warm start); working: those plus the full gradient."""
        factors = 2 * self.rank * (self.n_rows + self.n_cols)
        persistent = factors if self.streaming else 0
        return PeripheryMemory(persistent, factors + self.n_rows * self.n_cols)

    def state(self) -> dict[str, np.ndarray]:
        out = {}
        for key, (w, h) in self.factors.items():
            out[f"{key}.w"], out[f"{key}.h"] = w, h
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.factors = {key: (np.array(state[f"{key}.w"], float), np.array(state[f"{key}.h"], float))
                        for key in ("pos", "neg") if f"{key}.w" in state}


Decomposer = StreamingBatchPCA | StreamingNMF


def make_decomposer(method: str, rank: int, n_rows: int, n_cols: int, rng: np.random.Generator,
                    **options) -> Decomposer:
    """A streaming decomposer of ``method`` (``pca`` or ``nmf``) for one layer."""
    if method == "pca":
        return StreamingBatchPCA(rank, n_rows, n_cols, rng, **options)
    if method == "nmf":
        return StreamingNMF(rank, n_rows, n_cols, rng, **options)
    raise ConfigError(f"decomposition must be one of {', '.join(METHODS)}, got {method!r}")
