"""Learning-rate memristor cells (paper 1: Yan et al., IEEE TNNLS 2023).

Every layer (``per="layer"``) or every synapse (``per="synapse"``) has a learning-rate cell, a
memristor whose conductance ``G_c`` sets the update scale: ``lr_eff = lr0 * G_c / G_c(0)``.
The cells start at their highest conductance and are programmed by the training itself: after
every mini-batch each cell receives one depressing pulse at the cell's programming voltage whose
width is ``t_unit * a`` with the activity ``a`` in [0, 1], ``t_unit`` the cell's calibrated time
unit (one unit moves the cell by ``1/cell_levels`` of its range at mid state; option
``cell_levels``, default 100, ``--opt cell_levels=...``; ``--opt cell=NAME`` picks another cell
device):

* per layer: ``a = min(1, rms(g) / g_ref)``, ``g_ref`` the largest rms gradient the layer has
  seen (self-normalising: no scale to tune);
* per synapse: ``a_ij = min(1, |g_ij| / g_ref)``, so synapses that keep receiving large gradients
  lose learning rate first (an AdaGrad-like decay in hardware; Duchi et al., JMLR 12, 2011).

The learning rate thus follows the cell's pulse response: a soft-bounded device moves fast while
far from its bound and ever more slowly near it, which gives the "fast at first, then slow"
adaptation without a hand-made schedule. Paper 1's cell circuit is not public: this is our
standard form (docs/ASSUMPTIONS.md). The cells are simulated with the device's numeric twin
(``apply_pulse``, cycle-to-cycle noise included); their conductance scales the column pulse
durations (per layer, rank-1 updates) or the per-device widths (per synapse).
"""

from __future__ import annotations

import json

import numpy as np

from memcircuit.devices.base import DeviceModel
from memcircuit.errors import ConfigError
from memcircuit.train.optimizers.base import Dense, Factored, Optimizer, Update
from memcircuit.train.pulses import PulseCalibration

PER = ("layer", "synapse")


class LrCell(Optimizer):
    """SGD whose learning rate is the conductance of learning-rate memristor cells."""

    name = "lr-cell"

    def __init__(self, lr: float, cell: DeviceModel, cal: PulseCalibration, per: str = "layer",
                 v_read: float = 0.1) -> None:
        super().__init__(lr)
        if per not in PER:
            raise ConfigError(f"learning-rate cells are per {' or '.join(PER)}, got {per!r}")
        self.cell, self.cal, self.per, self.v_read = cell, cal, per, v_read
        lo, hi = (cell.conductance(np.array([x]), v_read)[0] for x in (cell.x_min, cell.x_max))
        self.x_start = float(cell.x_max if hi >= lo else cell.x_min)
        self.g_start = float(max(lo, hi))

    def setup(self, shapes, rng) -> None:
        super().setup(shapes, rng)
        cell_shape = (lambda s: (1, 1)) if self.per == "layer" else (lambda s: s)
        self.x = [np.full(cell_shape(s), self.x_start) for s in shapes]
        self.g_ref = [np.zeros(1) for _ in shapes]
        self.rng = rng
        self._energy = 0.0

    def _arrays(self):
        return {"cells": self.x, "g_ref": self.g_ref}

    def scale(self, k: int) -> np.ndarray:
        """Learning-rate factor ``G_c / G_c(start)`` of layer ``k``'s cells (shape (1, 1) or W's)."""
        return self.cell.conductance(self.x[k], self.v_read) / self.g_start

    def layer_update(self, k: int, x: np.ndarray, delta: np.ndarray) -> Update:
        g = x.T @ delta
        scale = self.scale(k)
        upd: Update = Factored(x, -self.lr * float(scale[0, 0]) * delta) if self.per == "layer" \
            else Dense(-self.lr * scale * g)
        # program the cells with the activity of this step (after using their present value)
        level = np.sqrt(np.mean(g * g)) if self.per == "layer" else np.abs(g)
        self.g_ref[k][0] = max(self.g_ref[k][0], float(np.max(level)))
        activity = np.clip(level / self.g_ref[k][0], 0.0, 1.0) if self.g_ref[k][0] > 0 else np.zeros_like(level)
        widths = np.broadcast_to(activity * self.cal.t_unit, self.x[k].shape)
        hit = widths > 0
        if hit.any():
            xs = self.x[k]
            v = -self.cal.polarity * self.cal.v_prog
            # energy of the adaptation pulses: V I(V, x) t at the state each pulse starts from
            current = self.cell.current(np.full(xs[hit].shape, v), xs[hit])
            self._energy += float(np.sum(np.abs(v * current) * widths[hit]))
            xs[hit] = self.cell.apply_pulse(xs[hit], v, widths[hit], rng=self.rng)
        return upd

    def take_cell_energy(self) -> float:
        spent, self._energy = self._energy, 0.0
        return spent

    def effective_lr(self) -> float:
        return float(self.lr * np.mean([self.scale(k).mean() for k in range(len(self.x))]))

    def state_dict(self):
        return {**super().state_dict(), "rng": json.dumps(self.rng.bit_generator.state)}

    def load_state_dict(self, state) -> None:
        super().load_state_dict(state)
        self.rng.bit_generator.state = json.loads(str(state["rng"]))

    def describe(self):
        return {**super().describe(), "per": self.per, "cell": self.cell.family}
