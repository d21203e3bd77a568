"""Fuzzy control of the learning rate from the loss trend, against over-fitting (paper 1).

Paper 1 (Yan et al., IEEE TNNLS 2023) uses fuzzy control of the adaptive learning; its rule base
is not public. We implement the standard form of fuzzy learning-parameter adaptation
(Arabshahi, Choi, Marks and Caudell, "Fuzzy parameter adaptation in optimization",
IEEE Computational Science & Engineering 3(1), 1996) as a zero-order Takagi-Sugeno controller
(Takagi and Sugeno, IEEE Trans. SMC 15(1), 1985), applied once per epoch:

inputs
  ``trend`` = relative change of the training loss over the epoch, ``(L_t - L_{t-1}) / L_{t-1}``;
  ``gap``   = change of the generalisation gap ``(L_val - L_train)`` relative to ``L_train``
              (growing gap = over-fitting); 0 without a validation split.
fuzzy sets (triangular / shoulders, half-width ``span``): Neg, Zero, Pos on both inputs.
rules -> learning-rate multiplier (singletons)
  trend Neg & gap not Pos -> ``up``    (steady descent: speed up)
  trend Zero              -> 1         (plateau: keep)
  trend Pos               -> ``down``  (loss rising: slow down)
  gap Pos                 -> ``brake`` (over-fitting: slow down harder)
Output: weighted mean of the singletons (min for AND), multiplier clipped to [``down``, ``up``]
of the wrapped optimizer's ``lr``, itself kept within ``[lr0 * lr_min_rel, lr0 * lr_max_rel]``.
"""

from __future__ import annotations

import numpy as np

from memcircuit.train.optimizers.base import Optimizer, Update, positive


def _tri(x: float, span: float) -> dict[str, float]:
    """Memberships of x in Neg / Zero / Pos with shoulders at +-span."""
    t = float(np.clip(x / span, -1.0, 1.0))
    return {"neg": max(-t, 0.0), "zero": 1.0 - abs(t), "pos": max(t, 0.0)}


class FuzzyLR(Optimizer):
    """Wraps an optimizer and scales its learning rate each epoch with fuzzy rules."""

    name = "fuzzy"

    def __init__(self, inner: Optimizer, span: float = 0.05, up: float = 1.1, down: float = 0.7,
                 brake: float = 0.5, lr_min_rel: float = 0.01, lr_max_rel: float = 4.0) -> None:
        super().__init__(inner.lr)
        self.inner = inner
        self.lr0 = inner.lr
        self.span = positive("fuzzy span", span)
        self.up, self.down, self.brake = positive("up", up), positive("down", down), positive("brake", brake)
        self.lr_min_rel, self.lr_max_rel = positive("lr_min", lr_min_rel), positive("lr_max", lr_max_rel)
        self.prev_train = np.nan
        self.prev_gap = np.nan
        self.last_multiplier = 1.0

    def setup(self, shapes, rng) -> None:
        super().setup(shapes, rng)
        self.inner.setup(shapes, rng)

    def layer_update(self, k: int, x: np.ndarray, delta: np.ndarray) -> Update:
        return self.inner.layer_update(k, x, delta)

    def multiplier(self, trend: float, gap: float) -> float:
        """The controller itself: learning-rate factor for a loss trend and gap change."""
        t, g = _tri(trend, self.span), _tri(gap, self.span)
        rules = [
            (min(t["neg"], 1.0 - g["pos"]), self.up),
            (t["zero"], 1.0),
            (t["pos"], self.down),
            (g["pos"], self.brake),
        ]
        weight = sum(w for w, _ in rules)
        out = sum(w * v for w, v in rules) / weight if weight > 0 else 1.0
        return float(np.clip(out, min(self.brake, self.down), self.up))

    def end_epoch(self, train_loss: float, val_loss: float | None) -> None:
        gap = (val_loss - train_loss) / max(train_loss, 1e-12) if val_loss is not None else 0.0
        if np.isfinite(self.prev_train):
            trend = (train_loss - self.prev_train) / max(self.prev_train, 1e-12)
            dgap = gap - self.prev_gap if np.isfinite(self.prev_gap) else 0.0
            self.last_multiplier = self.multiplier(trend, dgap)
            lr = np.clip(self.inner.lr * self.last_multiplier, self.lr0 * self.lr_min_rel, self.lr0 * self.lr_max_rel)
            self.inner.lr = float(lr)
        self.prev_train, self.prev_gap = train_loss, gap
        self.lr = self.inner.lr
        self.inner.end_epoch(train_loss, val_loss)

    def effective_lr(self) -> float:
        return self.inner.effective_lr()

    def state_dict(self):
        inner = {f"inner.{k}": v for k, v in self.inner.state_dict().items()}
        return {**inner, "lr": self.lr, "steps": self.steps, "prev_train": self.prev_train,
                "prev_gap": self.prev_gap, "last_multiplier": self.last_multiplier}

    def load_state_dict(self, state) -> None:
        self.inner.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("inner.")})
        self.lr, self.steps = float(state["lr"]), int(state["steps"])
        self.prev_train, self.prev_gap = float(state["prev_train"]), float(state["prev_gap"])
        self.last_multiplier = float(state["last_multiplier"])

    def describe(self):
        return {**self.inner.describe(), "name": f"fuzzy({self.inner.name})", "lr": self.inner.lr}
