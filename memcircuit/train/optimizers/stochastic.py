"""Stochastic pulse-coincidence updates, RPU style (paper 5), and the coincidence encoder.

Rank-1 update ``dW = a b^T`` (``a`` on the rows, ``b`` on the columns) with devices that move one
step per programming pulse (Gokmen and Vlasov, "Acceleration of deep neural network training with
resistive cross-point devices", Front. Neurosci. 10:333, 2016): in each of ``BL`` time slots,
row ``i`` fires with probability ``p_i = C_a |a_i|`` and column ``j`` with ``q_j = C_b |b_j|``
(independent Bernoulli trains, the stochastic translators); a device is programmed only when its
row and column pulses **coincide** (V/2 half-select: the coinciding cell sees ``v_prog``, cells on
one active line ``v_prog / 2``, below threshold), and then moves by one step ``dw_min`` in the
direction ``sign(a_i b_j)``. The expected change is ``BL p_i q_j dw_min = C_a C_b BL dw_min |a_i b_j|``,
so the gain ``C_a C_b = 1 / (BL dw_min)`` makes it unbiased; ``dw_min`` is the synapse pulse of
:func:`~memcircuit.train.optimizers.pulsed.weight_unit`. Update management (Gokmen, Onen and
Haensch, Front. Neurosci. 11:538, 2017) balances the two sides,
``C_a = sqrt(C m_b / m_a)``, ``C_b = sqrt(C m_a / m_b)`` with ``m = max |.|``, so that neither
saturates first; probabilities above 1 are clipped (the update is then truncated at ``BL`` steps
per slot train, the RPU's bound on one update).

Signs: each slot is applied in up to four V/2 steps, one per sign quadrant of ``(a_i, b_j)``
(potentiation where the signs agree, depression where they differ, with the polarity of the
calibration). Paper 5 (Babu and Rajendran, "Stochastic deep learning in memristive networks",
arXiv:1711.03640, 2017) trains with this kind of update on devices of limited dynamic range
(``Gmax/Gmin`` down to 15) and 32 discrete levels: use the ``discrete`` device model.

:class:`StochasticCoincidence` applies one coincidence train per training sample (``a`` = the
layer input with bias, ``b = -lr * delta``), all samples of a mini-batch in one program per
tile. :func:`coincidence_trains` and :func:`encode_coincidence` are also the row/column encoder
of rank-seq (:mod:`~memcircuit.train.optimizers.mbgd`).
"""

from __future__ import annotations

import numpy as np

from memcircuit.errors import ConfigError
from memcircuit.tiles.base import ProgramReport, PulseProgram, PulseStep
from memcircuit.train.network import TiledLayer
from memcircuit.train.optimizers.base import Factored, Update
from memcircuit.train.optimizers.pulsed import PulseOptimizer, physical_signs
from memcircuit.train.pulses import PulseCalibration, require_finite


def coincidence_probabilities(a: np.ndarray, b: np.ndarray, step: float, bl: int, *,
                              update_management: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Firing probabilities ``(p, q)`` of rows and columns for one rank-1 update ``a b^T``.

    ``step``: weight change of one coincidence; ``bl``: slots. Unclipped,
    ``bl p_i q_j = |a_i b_j| / step`` (the expected number of coincidences).
    """
    if bl < 1:
        raise ConfigError(f"bit length BL must be >= 1, got {bl}")
    if not step > 0:
        raise ConfigError(f"weight step per coincidence must be > 0, got {step}")
    a, b = np.abs(np.asarray(a, float)), np.abs(np.asarray(b, float))
    ma, mb = float(a.max(initial=0.0)), float(b.max(initial=0.0))
    if ma == 0 or mb == 0:
        return np.zeros_like(a), np.zeros_like(b)
    gain = 1.0 / (bl * step)
    ca, cb = (np.sqrt(gain * mb / ma), np.sqrt(gain * ma / mb)) if update_management else (np.sqrt(gain),) * 2
    return np.minimum(ca * a, 1.0), np.minimum(cb * b, 1.0)


def coincidence_trains(a: np.ndarray, b: np.ndarray, step: float, bl: int | np.ndarray, rng: np.random.Generator,
                       *, update_management: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Signed pulse trains for a sequence of rank-1 updates ``sum_k a_k b_k^T``.

    ``a`` (K, rows), ``b`` (K, cols); ``bl`` slots per update (scalar or one per update).
    Returns ``(A, B)``: (sum BL, rows) and (sum BL, cols) in {-1, 0, +1}; slot ``t`` fires row
    ``i`` when ``A[t, i] != 0`` with the sign of ``a_i`` (likewise columns). Coincidences of
    ``A[t, i] B[t, j]`` are the device steps.
    """
    a, b = np.atleast_2d(np.asarray(a, float)), np.atleast_2d(np.asarray(b, float))
    require_finite("the rank-1 update", a, b)
    if a.shape[0] != b.shape[0]:
        raise ConfigError(f"need as many row factors as column factors, got {a.shape[0]} and {b.shape[0]}")
    bls = np.broadcast_to(np.asarray(bl, dtype=int), (a.shape[0],))
    trains_a, trains_b = [], []
    for ak, bk, blk in zip(a, b, bls):
        p, q = coincidence_probabilities(ak, bk, step, int(blk), update_management=update_management)
        if not p.any() or not q.any():
            continue
        trains_a.append(np.sign(ak) * (rng.random((int(blk), ak.size)) < p))
        trains_b.append(np.sign(bk) * (rng.random((int(blk), bk.size)) < q))
    if not trains_a:
        return np.zeros((0, a.shape[1]), dtype=int), np.zeros((0, b.shape[1]), dtype=int)
    return np.concatenate(trains_a).astype(int), np.concatenate(trains_b).astype(int)


def encode_coincidence(rows: np.ndarray, cols: np.ndarray, cal: PulseCalibration) -> PulseProgram:
    """V/2 pulse program of signed trains ``rows`` (T, n_rows) and ``cols`` (T, n_cols).

    A cell whose row and column fire in the same slot with equal signs is potentiated by one unit
    pulse (``v_prog``, ``t_unit``), with opposite signs depressed; one step per sign quadrant and
    slot, empty quadrants skipped.
    """
    rows, cols = np.asarray(rows), np.asarray(cols)
    half = 0.5 * cal.v_prog
    steps = []
    for ra, cb in zip(rows, cols):
        if not ra.any() or not cb.any():
            continue
        for sa in (1, -1):
            rsel = ra == sa
            if not rsel.any():
                continue
            for sb in (1, -1):
                csel = cb == sb
                if not csel.any():
                    continue
                cell = cal.polarity * sa * sb * half   # half the cell voltage, signed for grow / shrink
                steps.append(PulseStep(np.where(rsel, cell, 0.0), np.where(csel, -cell, 0.0), cal.t_unit, cal.t_unit))
    return PulseProgram(tuple(steps))


def apply_coincidences(opt: PulseOptimizer, layer: TiledLayer, a: np.ndarray, b: np.ndarray,
                       bl: int | np.ndarray, rng: np.random.Generator, *, update_management: bool = True
                       ) -> list[ProgramReport]:
    """Draw the trains of ``sum_k a_k b_k^T`` (logical layer factors) and program every tile."""
    a_tr, b_tr = coincidence_trains(a, b, opt.w_unit, bl, rng, update_management=update_management)
    if a_tr.shape[0] == 0:
        return []
    _, cal = opt._require()
    programs = [[encode_coincidence(a_tr[:, r0:r1], physical_signs(layer, b_tr, c), cal)
                 for c in range(len(layer.col_blocks))] for (r0, r1) in layer.row_blocks]
    return opt._apply(layer, programs)


class StochasticCoincidence(PulseOptimizer):
    """RPU-style stochastic pulse-coincidence SGD (see module doc).

    ``bl``: slots per sample (bit length); ``lr``: learning rate (the expected update is
    ``-lr x^T delta``, the overall gain ``C_x C_d = lr / (BL dw_min)`` per sample);
    ``update_management``: balance row and column probabilities.
    """

    name = "stochastic"

    def __init__(self, lr: float, *, bl: int = 10, update_management: bool = True, **kw) -> None:
        super().__init__(lr, **kw)
        if not isinstance(bl, (int, np.integer)) or bl < 1:
            raise ConfigError(f"bit length BL must be an integer >= 1, got {bl!r}")
        self.bl, self.update_management = int(bl), bool(update_management)

    def layer_update(self, k: int, x: np.ndarray, delta: np.ndarray) -> Factored:
        return Factored(np.asarray(x, float), -self.lr * np.asarray(delta, float))

    def program_layer(self, k: int, layer: TiledLayer, update: Update, rng: np.random.Generator) -> list[ProgramReport]:
        if not isinstance(update, Factored):
            raise ConfigError("stochastic coincidence updates need rank-1 factors")
        return apply_coincidences(self, layer, update.u, update.v, self.bl, rng,
                                  update_management=self.update_management)

    def describe(self):
        return {**super().describe(), "bl": self.bl, "update_management": self.update_management}
