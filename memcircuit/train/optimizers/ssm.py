"""SSM: stochastic sparse learning with momentum adaptation for imprecise memristor networks (paper 2).

Wang, Wu, Zhang, Tian and Shi, arXiv:1906.02393 (2019); Neurocomputing 407 (2020). The scheme has
four parts; their exact rules are not public, so each is the standard form named below
(docs/ASSUMPTIONS.md, "Paper 2"), and each can be switched off for ablation:

1. **Stochastic, discrete, sparse updates** (``stochastic``): the desired change of every
   synapse, in synapse pulses ``p = dW / dw_min`` (:func:`~memcircuit.train.optimizers.pulsed.weight_unit`),
   becomes a whole number of pulses by unbiased stochastic rounding, at most ``n_max`` per step
   (default 1: a ternary update). With ``|p| < 1`` for most synapses a synapse is pulsed with
   probability ``|p|``, so only a fraction of the devices is programmed each step, chosen
   stochastically from the update size (as in stochastic ternarisation, Wen et al., NeurIPS 2017).
   ``density`` fixes that fraction: each step the pulse numbers of a layer are scaled so that
   the expected fraction of its synapses pulsed, ``mean(min(1, |c p|))``, is ``density`` (a pulse
   budget per step; the learning rate then no longer sets the step size, only the direction
   and relative sizes of the momentum do, as in TernGrad's max-normalised ternarisation). The
   residual that update compensation carries comes on top of that budget.
   Off: round ``-lr m / dw_min`` to the nearest whole pulse (the conventional open-loop
   pulse-number rounding, which loses every change below half a pulse).
2. **Momentum** (``momentum`` = beta): an exponential moving average of the gradient,
   ``m <- beta m + (1 - beta) g``, filters the training noise of single mini-batches so that the
   pulses follow the persistent direction (0: off, ``m = g``).
3. **Re-initialisation** against device-to-device variation (``reinit_rounds``): after the
   initial weights are written, they are read back and re-programmed towards their targets for
   that many read-verify rounds before training (pulses counted as ``init_device_pulses``).
   With ``init="open-loop"`` the initial write itself is open loop from the erased state, as on a
   chip, so device-to-device variation and the state-dependent pulse response distort it.
4. **Update compensation** (``compensation``): what the open-loop programming failed to apply is
   carried into the next step's target (clipped to ``+-residual_max`` pulses).
   ``"rounding"`` needs no read: it carries ``p - n`` for round-to-nearest (pulse-number
   rounding: an error-feedback / sigma-delta loop) and ``p - clip(p, +-n_max)`` for stochastic
   rounding (the part the ``n_max`` cap removes from the expected update; the zero-mean rounding
   noise is not fed back, which would only make pulses oscillate). ``"readback"`` adds
   ``n dw_min - dW_read``, the difference between the pulses sent and the weight change read
   from the array after programming: pulse-to-pulse variation, non-linearity, saturation (one
   array read per step, counted as ``array_reads``; the default: it is one read after the write,
   not a read-verify loop). ``"none"``: off.

With every part off (``stochastic=False, momentum=0, reinit_rounds=0, compensation="none",
n_max=None``) this is conventional in-situ SGD with open-loop pulse-number rounding, the
baseline of the paper.
"""

from __future__ import annotations

import numpy as np

from memcircuit.errors import ConfigError
from memcircuit.tiles.base import ProgramReport
from memcircuit.train.lowrank import PeripheryMemory
from memcircuit.train.network import TiledLayer
from memcircuit.train.optimizers.base import Dense, Update, fraction, positive
from memcircuit.train.optimizers.pulsed import PulseOptimizer, synapse_pulses

COMPENSATION = ("rounding", "readback", "none")


def budget_scale(p: np.ndarray, density: float) -> float:
    """The factor ``c`` with ``mean(min(1, |c p|)) = density`` (bisection; 0 if ``p`` is all zero).

    If fewer than ``density`` of the entries are non-zero, every non-zero entry is pulsed.
    """
    a = np.abs(np.asarray(p, float)).ravel()
    if not np.any(a):
        return 0.0
    nonzero = np.count_nonzero(a) / a.size
    if density >= nonzero:
        return 1.0 / a[a > 0].min()
    lo = density / a.mean()                      # mean(min(1, lo a)) <= density
    hi = 1.0 / np.quantile(a, 1 - density)       # at least the top `density` entries saturate
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if np.mean(np.minimum(1.0, mid * a)) < density:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


class SSM(PulseOptimizer):
    """Stochastic sparse updates with momentum, re-initialisation and update compensation."""

    name = "ssm"

    def __init__(self, lr: float, *, stochastic: bool = True, momentum: float = 0.9, reinit_rounds: int = 3,
                 compensation: str = "readback", n_max: int | None = 1, residual_max: float = 4.0,
                 density: float | None = None, **kw) -> None:
        if reinit_rounds < 0:
            raise ConfigError(f"re-initialisation rounds must be >= 0, got {reinit_rounds}")
        super().__init__(lr, init_verify=reinit_rounds, **kw)
        if compensation not in COMPENSATION:
            raise ConfigError(f"compensation must be one of {', '.join(COMPENSATION)}, got {compensation!r}")
        if n_max is not None and (not isinstance(n_max, (int, np.integer)) or n_max < 1):
            raise ConfigError(f"n_max must be an integer >= 1 or None, got {n_max!r}")
        self.stochastic = bool(stochastic)
        self.beta = fraction("momentum", momentum)
        self.compensation = compensation
        self.n_max = None if n_max is None else int(n_max)
        self.residual_max = positive("residual_max", residual_max)
        if density is not None and not (np.isfinite(density) and 0 < density <= 1):
            raise ConfigError(f"density must be in (0, 1] or None, got {density!r}")
        self.density = None if density is None else float(density)

    def setup(self, shapes, rng) -> None:
        super().setup(shapes, rng)
        self.m = [np.zeros(s) for s in shapes]
        self.residual = [np.zeros(s) for s in shapes]

    def _arrays(self):
        return {"m": self.m, "residual": self.residual}

    def _reset_counters(self) -> None:
        super()._reset_counters()
        self.counters.update({"synapses_pulsed": 0, "synapse_slots": 0, "array_reads": 0})

    def layer_update(self, k: int, x: np.ndarray, delta: np.ndarray) -> Dense:
        g = np.asarray(x, float).T @ np.asarray(delta, float)
        m = self.m[k]
        if self.beta > 0:
            m *= self.beta
            m += (1 - self.beta) * g
        else:
            m[...] = g
        return Dense(-self.lr * m)

    def program_layer(self, k: int, layer: TiledLayer, update: Update, rng: np.random.Generator) -> list[ProgramReport]:
        _, cal = self._require()
        step = update.dense()
        if self.density is not None and self.stochastic:
            step = step * budget_scale(step / self.w_unit, self.density)
        target = step + (self.residual[k] if self.compensation != "none" else 0.0)
        p = target / self.w_unit
        n = synapse_pulses(p, cal, rng, stochastic=self.stochastic, n_max=self.n_max)
        self.counters["synapses_pulsed"] += int(np.count_nonzero(n))
        self.counters["synapse_slots"] += n.size
        before = layer.weights() if self.compensation == "readback" else None
        reports = self.apply_units(layer, n, rng) if np.any(n) else []
        if self.compensation != "none":
            # what the pulses were meant to apply: n itself when rounding to nearest; its expectation
            # (p within the cap) for stochastic rounding, whose zero-mean noise is not fed back
            meant = n if not self.stochastic else (p if self.n_max is None else np.clip(p, -self.n_max, self.n_max))
            residual = (p - meant) * self.w_unit
            if self.compensation == "readback":
                residual += n * self.w_unit - (layer.weights() - before)   # what the devices failed to do
                self.counters["array_reads"] += 1
            bound = self.residual_max * self.w_unit
            np.clip(residual, -bound, bound, out=self.residual[k])
        return reports

    def periphery_memory(self) -> PeripheryMemory:
        """Momentum and residual per synapse (each only when its part is on)."""
        per = (self.beta > 0) + (self.compensation != "none")
        n = sum(int(np.prod(s)) for s in self.shapes)
        return PeripheryMemory(per * n, (per + 1) * n)

    def epoch_metrics(self):
        slots = self.counters["synapse_slots"]
        density = self.counters["synapses_pulsed"] / slots if slots else 0.0
        out = super().epoch_metrics()
        out["update_density"] = density
        return out

    def describe(self):
        return {**super().describe(), "stochastic": self.stochastic, "momentum": self.beta, "density": self.density,
                "reinit_rounds": self.init_verify, "compensation": self.compensation, "n_max": self.n_max,
                "residual_max": self.residual_max}
