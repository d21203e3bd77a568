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
standard form (docs/ASSUMPTIONS.md).

Per layer the cell is a circuit of the layer's tiles (:class:`memcircuit.circuits.lrcell.LrStage`):
the update ``-lr0 x^T delta`` is encoded into pulses as plain SGD, and the cell's stage times the
tiles' drivers, so every pulse lasts its commanded width times ``G_c r_f`` (``r_f = 1/G_c(start)``,
finite op-amp gain included); after the array's pulses the cell takes its adaptation pulse. At
``spice`` that is one ngspice transient of array, drivers and cell (the cell's state read back
from it); at the other fidelities the same widths and the same adaptation with the twin. Per
synapse the cells are the twin alone (vectorised; ``lr_eff = lr0 * G_c / G_c(start)``) and scale
the per-device widths; the ``spice`` fidelity refuses them (one cell circuit per synapse).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from memcircuit.circuits.lrcell import LrCellParams, LrStage
from memcircuit.circuits.spec import OpAmpParams
from memcircuit.devices.base import DeviceModel
from memcircuit.errors import ConfigError
from memcircuit.train.optimizers.base import Dense, Factored, Optimizer, Update
from memcircuit.train.pulses import PulseCalibration, encode_update

if TYPE_CHECKING:
    from memcircuit.tiles.base import ProgramReport
    from memcircuit.train.network import TiledLayer

PER = ("layer", "synapse")
# The cell stage's op-amp: fast enough (1 GHz gain-bandwidth, closed-loop time constant ~0.3 ns)
# to hold its virtual ground through adaptation pulses of a few ns, and rails (+-2.5 V) above the
# output a programming-voltage pulse on a cell of gain 1 asks for (docs/ASSUMPTIONS.md).
CELL_OPAMP = OpAmpParams(gbw=1e9, v_low=-2.5, v_high=2.5)


class LrCell(Optimizer):
    """SGD whose learning rate is the conductance of learning-rate memristor cells.

    ``cal`` is the cell's own pulse calibration (its programming voltage and time unit; the
    array's comes with :meth:`attach`); ``fidelity`` the tiles' (per-synapse cells are refused at
    ``spice``)."""

    name = "lr-cell"

    def __init__(self, lr: float, cell: DeviceModel, cal: PulseCalibration, per: str = "layer",
                 v_read: float = 0.1, fidelity: str | None = None) -> None:
        super().__init__(lr)
        if per not in PER:
            raise ConfigError(f"learning-rate cells are per {' or '.join(PER)}, got {per!r}")
        if fidelity == "spice" and per == "synapse":
            raise ConfigError("learning-rate cells per synapse are simulated with the device's numeric twin only; "
                              "at the spice fidelity use --lr-cell-per layer")
        self.cell, self.cell_cal, self.per, self.v_read = cell, cal, per, v_read
        lo, hi = (cell.conductance(np.array([x]), v_read)[0] for x in (cell.x_min, cell.x_max))
        self.x_start = float(cell.x_max if hi >= lo else cell.x_min)
        self.g_start = float(max(lo, hi))
        self.params = LrCellParams(r_f=1.0 / self.g_start, opamp=CELL_OPAMP, v_adapt=-cal.polarity * cal.v_prog,
                                   t_adapt=0.0, v_read=v_read)

    def setup(self, shapes, rng) -> None:
        super().setup(shapes, rng)
        cell_shape = (lambda s: (1, 1)) if self.per == "layer" else (lambda s: s)
        self.x = [np.full(cell_shape(s), self.x_start) for s in shapes]
        self.g_ref = [np.zeros(1) for _ in shapes]
        self._adapt = [0.0 for _ in shapes]   # adaptation width (s) of the update in flight, per layer
        self.rng = rng
        self._energy = 0.0

    def _arrays(self):
        return {"cells": self.x, "g_ref": self.g_ref}

    def stage(self, k: int, t_adapt: float = 0.0) -> LrStage:
        """Layer ``k``'s cell circuit at its present state, with an adaptation pulse of ``t_adapt`` s."""
        return LrStage(self.cell, float(self.x[k][0, 0]), replace(self.params, t_adapt=float(t_adapt)))

    def scale(self, k: int) -> np.ndarray:
        """Learning-rate factor of layer ``k``'s cells (shape (1, 1) or W's): per layer the stage's
        width factor ``G_c r_f / (1 + (1 + G_c r_f)/A)``, per synapse ``G_c / G_c(start)``."""
        if self.per == "layer":
            return np.full((1, 1), self.stage(k).width_factor())
        return self.cell.conductance(self.x[k], self.v_read) / self.g_start

    def program(self, k: int, layer: TiledLayer, update: Update, rng: np.random.Generator) -> list[ProgramReport]:
        """Per layer: the update's pulse programs with the layer's cell stage timing the drivers of
        every tile (the adaptation pulse in the first tile's run); the cell's new state is what the
        tiles report."""
        if self.per != "layer":
            return super().program(k, layer, update, rng)
        if self.cal is None:
            raise ConfigError(f"optimizer {self.name}: call attach(network, calibration) first (the loop does)")
        stage = self.stage(k, self._adapt[k])
        programs = encode_update(layer, update, self.cal, rng, scheme=self.scheme)
        programs = [[replace(prog, lr_stage=stage if (r, c) == (0, 0) else stage.held()) for c, prog in enumerate(row)]
                    for r, row in enumerate(programs)]
        reports = layer.program(programs)
        cells = [report.extra["lr_cell"] for report in reports if "lr_cell" in report.extra]
        if cells:   # none when no tile ran (nothing to program, no adaptation)
            self.x[k][0, 0] = cells[0]["x"]
            self._energy += cells[0]["energy"]
        return reports

    def layer_update(self, k: int, x: np.ndarray, delta: np.ndarray) -> Update:
        g = x.T @ delta
        # program the cells with the activity of this step (after using their present value)
        level = np.sqrt(np.mean(g * g)) if self.per == "layer" else np.abs(g)
        self.g_ref[k][0] = max(self.g_ref[k][0], float(np.max(level)))
        activity = np.clip(level / self.g_ref[k][0], 0.0, 1.0) if self.g_ref[k][0] > 0 else np.zeros_like(level)
        if self.per == "layer":   # the cell's stage scales the pulse widths in the tiles (program)
            self._adapt[k] = float(activity) * self.cell_cal.t_unit
            return Factored(x, -self.lr * delta)
        scale = self.scale(k)
        upd = Dense(-self.lr * scale * g)
        widths = np.broadcast_to(activity * self.cell_cal.t_unit, self.x[k].shape)
        hit = widths > 0
        if hit.any():
            xs = self.x[k]
            v = -self.cell_cal.polarity * self.cell_cal.v_prog
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
