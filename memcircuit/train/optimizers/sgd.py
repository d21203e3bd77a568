"""Plain stochastic gradient descent as parallel outer-product updates (Soudry et al., 2015).

``dW = -lr * x^T delta`` is applied as one rank-1 update per sample of the mini-batch:
row ``i`` is driven with an amplitude set by the input ``x_bi`` (sign included) and column ``j``
with a pulse whose duration is set by ``|delta_bj|`` (sign selecting the polarity), so every
synapse changes by ``~ x_bi * delta_bj`` at once (Soudry, Di Castro, Gal, Kolodny and Kvatinsky,
"Memristor-based multilayer neural networks with online gradient descent training",
IEEE TNNLS 26(10), 2015). With batch size 1 this is exactly their online circuit; with larger
batches the rank-1 updates are applied one after another ("rank-seq", Gokmen et al. / paper 4),
which equals the mini-batch gradient step for linear devices.
"""

from __future__ import annotations

import numpy as np

from memcircuit.train.optimizers.base import Factored, Optimizer


class SGD(Optimizer):
    """``dW = -lr * grad``, emitted as rank-1 factors (row inputs x column errors)."""

    name = "sgd"

    def layer_update(self, k: int, x: np.ndarray, delta: np.ndarray) -> Factored:
        return Factored(x, -self.lr * delta)
