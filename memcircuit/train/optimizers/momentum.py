"""Heavy-ball momentum (Polyak, USSR Comput. Math. Math. Phys. 4(5), 1964; in back-propagation
Rumelhart, Hinton and Williams, Nature 323, 1986).

``m <- mu * m - lr * grad``; ``dW = m``. The velocity ``m`` is per synapse, held in the digital
periphery, so the change is programmed per device (not rank-1). This is the momentum term that
the training circuit of Yan et al. (Neural Networks 128, 2020) adds to the SGD circuit.
"""

from __future__ import annotations

import numpy as np

from memcircuit.train.optimizers.base import Dense, Optimizer, fraction


class Momentum(Optimizer):
    """SGD with heavy-ball momentum ``mu`` (0 gives plain SGD with dense updates)."""

    name = "momentum"

    def __init__(self, lr: float, momentum: float = 0.9) -> None:
        super().__init__(lr)
        self.mu = fraction("momentum", momentum)

    def setup(self, shapes, rng) -> None:
        super().setup(shapes, rng)
        self.velocity = [np.zeros(s) for s in shapes]

    def _arrays(self):
        return {"velocity": self.velocity}

    def layer_update(self, k: int, x: np.ndarray, delta: np.ndarray) -> Dense:
        m = self.velocity[k]
        m *= self.mu
        m -= self.lr * (x.T @ delta)
        return Dense(m.copy())

    def describe(self):
        return {**super().describe(), "momentum": self.mu}
