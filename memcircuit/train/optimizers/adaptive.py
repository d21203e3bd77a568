"""Adaptive learning rates with momentum: RMSprop or delta-bar-delta, per synapse.

The rule of the training circuit in Yan et al. (Neural Networks 128, 2020) is not public in
enough detail; we implement the two standard per-weight forms and name them
(docs/ASSUMPTIONS.md):

* ``rmsprop`` (Tieleman and Hinton, COURSERA Neural Networks lecture 6.5, 2012):
  ``s <- rho s + (1 - rho) g^2``; step ``-lr g / (sqrt(s) + eps)``.
* ``delta-bar-delta`` (Jacobs, Neural Networks 1(4), 1988): every weight has its own rate
  ``eta``; with ``gbar <- (1 - theta) g + theta gbar``, ``eta += kappa`` when ``g * gbar_prev > 0``
  (steady descent) and ``eta *= 1 - phi`` when ``< 0`` (oscillation); step ``-eta g``.
  ``kappa`` is given relative to ``lr`` (``kappa_rel * lr``) so that one knob scales the rule.

Both then pass through heavy-ball momentum ``m <- mu m + step`` (``mu = 0`` disables it);
``dW = m``.
"""

from __future__ import annotations

import numpy as np

from memcircuit.errors import ConfigError
from memcircuit.train.optimizers.base import Dense, Optimizer, fraction, positive

RULES = ("rmsprop", "delta-bar-delta")


class Adaptive(Optimizer):
    """Per-synapse adaptive learning rate (``rule``) plus momentum ``mu``."""

    name = "adaptive"

    def __init__(self, lr: float, rule: str = "rmsprop", momentum: float = 0.9, rho: float = 0.9,
                 eps: float = 1e-8, theta: float = 0.7, kappa_rel: float = 0.05, phi: float = 0.2,
                 eta_max_rel: float = 10.0) -> None:
        super().__init__(lr)
        if rule not in RULES:
            raise ConfigError(f"adaptive rule must be one of {', '.join(RULES)}, got {rule!r}")
        self.rule = rule
        self.mu = fraction("momentum", momentum)
        self.rho = fraction("rho", rho)
        self.eps = positive("eps", eps)
        self.theta = fraction("theta", theta)
        self.kappa_rel = positive("kappa", kappa_rel)
        self.phi = fraction("phi", phi)
        self.eta_max_rel = positive("eta_max", eta_max_rel)

    def setup(self, shapes, rng) -> None:
        super().setup(shapes, rng)
        self.velocity = [np.zeros(s) for s in shapes]
        self.second = [np.zeros(s) for s in shapes]          # rmsprop: mean square of g
        self.gbar = [np.zeros(s) for s in shapes]            # delta-bar-delta: smoothed g
        self.eta = [np.full(s, self.lr) for s in shapes]     # delta-bar-delta: per-weight rates

    def _arrays(self):
        return {"velocity": self.velocity, "second": self.second, "gbar": self.gbar, "eta": self.eta}

    def layer_update(self, k: int, x: np.ndarray, delta: np.ndarray) -> Dense:
        g = x.T @ delta
        if self.rule == "rmsprop":
            s = self.second[k]
            s *= self.rho
            s += (1 - self.rho) * g * g
            step = -self.lr * g / (np.sqrt(s) + self.eps)
        else:
            eta, gbar = self.eta[k], self.gbar[k]
            agree = g * gbar
            eta[agree > 0] += self.kappa_rel * self.lr
            eta[agree < 0] *= 1 - self.phi
            np.clip(eta, 0.0, self.eta_max_rel * self.lr, out=eta)
            gbar *= self.theta
            gbar += (1 - self.theta) * g
            step = -eta * g
        m = self.velocity[k]
        m *= self.mu
        m += step
        return Dense(m.copy())

    def effective_lr(self) -> float:
        if self.rule == "delta-bar-delta" and self.eta:
            return float(np.mean([e.mean() for e in self.eta]))
        return self.lr

    def describe(self):
        return {**super().describe(), "rule": self.rule, "momentum": self.mu}
