"""Mini-batch gradient descent with stochastic rounding and low-rank gradient decomposition (paper 4).

Zhao, Huang, Yousuf, Gao, Hoskins and Adam, "Gradient decomposition methods for training neural
networks with non-ideal synaptic devices", Front. Neurosci. 15:749811 (2021):

* :class:`MBGD`: the periphery accumulates the gradient of the mini-batch (one number per
  synapse), then programs every device once per batch with
  ``n = SR(-lr G / dw_min)`` whole synapse pulses, where SR is unbiased stochastic rounding
  (Gupta et al., ICML 2015) so that updates smaller than one device step do not vanish
  (``rounding="nearest"`` for the ablation).
* :class:`LowRankMBGD`: the batch gradient is replaced by a rank-``k`` decomposition
  (:mod:`memcircuit.train.lowrank`: streaming batch PCA or NMF), and the periphery keeps only the
  ``k`` row and ``k`` column vectors. Two ways to bring it to the array:

  - ``rank-sum`` (``apply="sum"``): the rank-1 terms are summed in the periphery into one
    per-synapse change, programmed per device with stochastic rounding (as MBGD);
  - ``rank-seq`` (``apply="seq"``): each rank-1 term ``u_r v_r^T`` is applied through the row and
    column drivers, one term after another, so device non-idealities act on every term. The
    row/column encoding is the loop's outer-product encoder (``seq_encoding="outer"``, default,
    :func:`memcircuit.train.pulses.encode_outer`: at most four parallel steps per term, row
    amplitudes carry ``|u|``, column durations in whole unit pulses carry ``|v|`` with stochastic
    rounding; Soudry et al. 2015), or stochastic pulse coincidence (``"coincidence"``,
    :mod:`~memcircuit.train.optimizers.stochastic`; per term ``BL = ceil(max|u| max|v| / dw_min)``
    slots, at most ``bl_max``, unbiased below that bound; up to ``4 BL`` steps per term, slow).

Periphery memory (:meth:`~memcircuit.train.optimizers.pulsed.PulseOptimizer.periphery_memory`):
MBGD ``n_in n_out`` numbers; PCA ``k (n_in + n_out) + k``; NMF ``2 k (n_in + n_out)`` plus the full
gradient while it factorises (see :mod:`memcircuit.train.lowrank`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from memcircuit.errors import ConfigError
from memcircuit.tiles.base import ProgramReport
from memcircuit.train.lowrank import METHODS, Decomposer, PeripheryMemory, dense_memory, make_decomposer
from memcircuit.train.network import TiledLayer
from memcircuit.train.optimizers.base import Dense, Factored, Update
from memcircuit.train.optimizers.pulsed import PulseOptimizer, synapse_pulses
from memcircuit.train.optimizers.stochastic import apply_coincidences
from memcircuit.train.pulses import encode_outer, whole_units

ROUNDING = ("stochastic", "nearest")
APPLY = ("seq", "sum")
SEQ_ENCODINGS = ("coincidence", "outer")


def _rounding(value: str) -> bool:
    if value not in ROUNDING:
        raise ConfigError(f"rounding must be one of {', '.join(ROUNDING)}, got {value!r}")
    return value == "stochastic"


class _PerDevice(PulseOptimizer):
    """Programs a per-synapse change with whole pulses (stochastic or nearest rounding)."""

    def __init__(self, lr: float, *, rounding: str = "stochastic", **kw) -> None:
        super().__init__(lr, **kw)
        self.rounding = rounding
        self._stochastic = _rounding(rounding)

    def apply_dense(self, layer: TiledLayer, dw: np.ndarray, rng: np.random.Generator) -> list[ProgramReport]:
        _, cal = self._require()
        n = synapse_pulses(dw / self.w_unit, cal, rng, stochastic=self._stochastic)
        return self.apply_units(layer, n, rng) if np.any(n) else []

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "rounding": self.rounding}


class MBGD(_PerDevice):
    """Mini-batch gradient descent, per-device programming with stochastic rounding."""

    name = "mbgd"

    def layer_update(self, k: int, x: np.ndarray, delta: np.ndarray) -> Dense:
        return Dense(-self.lr * (np.asarray(x, float).T @ np.asarray(delta, float)))

    def program_layer(self, k: int, layer: TiledLayer, update: Update, rng: np.random.Generator) -> list[ProgramReport]:
        return self.apply_dense(layer, update.dense(), rng)

    def periphery_memory(self) -> PeripheryMemory:
        mems = [dense_memory(*s) for s in self.shapes]
        return PeripheryMemory(sum(m.persistent for m in mems), sum(m.working for m in mems))


class LowRankMBGD(_PerDevice):
    """MBGD on a rank-``k`` streaming PCA or NMF of the batch gradient, rank-seq or rank-sum."""

    def __init__(self, lr: float, *, method: str = "pca", apply: str = "seq", rank: int = 3, bl_max: int = 64,
                 seq_encoding: str = "outer", update_management: bool = True, power_iters: int = 1,
                 nmf_max_iter: int = 200, streaming: bool = True, **kw) -> None:
        super().__init__(lr, **kw)
        if method not in METHODS:
            raise ConfigError(f"decomposition must be one of {', '.join(METHODS)}, got {method!r}")
        if apply not in APPLY:
            raise ConfigError(f"rank application must be one of {', '.join(APPLY)}, got {apply!r}")
        if seq_encoding not in SEQ_ENCODINGS:
            raise ConfigError(f"rank-seq encoding must be one of {', '.join(SEQ_ENCODINGS)}, got {seq_encoding!r}")
        if not isinstance(rank, (int, np.integer)) or rank < 1:
            raise ConfigError(f"rank must be an integer >= 1, got {rank!r}")
        if bl_max < 1:
            raise ConfigError(f"bl_max must be >= 1, got {bl_max}")
        self.method, self.apply, self.rank, self.bl_max = method, apply, int(rank), int(bl_max)
        self.seq_encoding, self.update_management = seq_encoding, bool(update_management)
        self.options = {"power_iters": int(power_iters)} if method == "pca" else \
            {"max_iter": int(nmf_max_iter), "streaming": bool(streaming)}
        self.name = f"{method}-{apply}"

    def setup(self, shapes, rng) -> None:
        super().setup(shapes, rng)
        self.decomposers: list[Decomposer] = [make_decomposer(self.method, self.rank, n_in, n_out, rng, **self.options)
                                              for n_in, n_out in shapes]

    def layer_update(self, k: int, x: np.ndarray, delta: np.ndarray) -> Factored:
        f = self.decomposers[k].decompose(x, delta)
        return Factored(f.u, -self.lr * f.v)

    def program_layer(self, k: int, layer: TiledLayer, update: Update, rng: np.random.Generator) -> list[ProgramReport]:
        if not isinstance(update, Factored):
            raise ConfigError("low-rank updates must be rank-1 factors")
        if update.u.shape[0] == 0:
            return []
        if self.apply == "sum":
            return self.apply_dense(layer, update.dense(), rng)
        if self.seq_encoding == "outer":
            _, cal = self._require()
            programs = [[encode_outer(update.u[:, r0:r1], layer.physical_factor(update.v[:, c0:c1]), cal, rng)
                         for (c0, c1) in layer.col_blocks] for (r0, r1) in layer.row_blocks]
            return self._apply(layer, programs)
        peak = np.abs(update.u).max(axis=1) * np.abs(update.v).max(axis=1) / self.w_unit
        bl = whole_units(np.clip(np.ceil(peak), 1, self.bl_max), "the pulse-train length")
        return apply_coincidences(self, layer, update.u, update.v, bl, rng, update_management=self.update_management)

    def periphery_memory(self) -> PeripheryMemory:
        mems = [d.memory() for d in self.decomposers]
        return PeripheryMemory(sum(m.persistent for m in mems), sum(m.working for m in mems))

    # -- checkpoints: the decomposers' state has data-dependent keys --------------------------
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        for k, d in enumerate(self.decomposers):
            for key, value in d.state().items():
                state[f"dec.{k}.{key}"] = np.array(value, copy=True)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        for k, d in enumerate(self.decomposers):
            prefix = f"dec.{k}."
            d.load_state({key[len(prefix):]: v for key, v in state.items() if key.startswith(prefix)})

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "method": self.method, "apply": self.apply, "rank": self.rank,
                "bl_max": self.bl_max, "seq_encoding": self.seq_encoding}
