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

Per layer, every use of a cell is the circuit of :func:`memcircuit.circuits.lrcell.use_circuit`:
the inverting stage reads the cell (its output, ``gain * v_read``, sets the learning rate:
``lr_eff = lr0 * gain / gain(start)``, ``r_f = 1 / G_c(start)``), then the cell memristor takes its
adaptation pulse. At ``spice`` that is an ngspice transient of the stage with the memristor's
behavioural model (gain and final state read back from the simulation); at the other fidelities
the same circuit solved analytically with the device's numeric twin (``apply_pulse``). The
learning rate scales the column pulse durations of the layer's rank-1 update. Per synapse the
cells are the twin alone (vectorised; ``lr_eff = lr0 * G_c / G_c(start)``) and scale the
per-device widths; ngspice fidelities refuse them (one transient per synapse).
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

from memcircuit.circuits.lrcell import LearningRateCell, LrCellParams, use_circuit
from memcircuit.circuits.spec import OpAmpParams
from memcircuit.devices.base import DeviceModel
from memcircuit.errors import ConfigError
from memcircuit.tiles.energy import T_READ
from memcircuit.train.optimizers.base import Dense, Factored, Optimizer, Update
from memcircuit.train.pulses import PulseCalibration

PER = ("layer", "synapse")
CIRCUITS = ("twin", "spice")
# The cell stage's op-amp: fast enough (1 GHz gain-bandwidth, closed-loop time constant ~0.3 ns)
# to hold its virtual ground through adaptation pulses of a few ns, and rails (+-2.5 V) above the
# output a programming-voltage pulse on a cell of gain 1 asks for (docs/ASSUMPTIONS.md).
CELL_OPAMP = OpAmpParams(gbw=1e9, v_low=-2.5, v_high=2.5)


class LrCell(Optimizer):
    """SGD whose learning rate is the conductance of learning-rate memristor cells."""

    name = "lr-cell"

    def __init__(self, lr: float, cell: DeviceModel, cal: PulseCalibration, per: str = "layer",
                 v_read: float = 0.1, circuit: str = "twin") -> None:
        super().__init__(lr)
        if per not in PER:
            raise ConfigError(f"learning-rate cells are per {' or '.join(PER)}, got {per!r}")
        if circuit not in CIRCUITS:
            raise ConfigError(f"learning-rate cell circuits are solved by {' or '.join(CIRCUITS)}, got {circuit!r}")
        if circuit == "spice" and per == "synapse":
            raise ConfigError("learning-rate cells per synapse are simulated with the device's numeric twin only; "
                              "at the spice fidelity use --lr-cell-per layer")
        self.cell, self.cal, self.per, self.v_read, self.circuit = cell, cal, per, v_read, circuit
        lo, hi = (cell.conductance(np.array([x]), v_read)[0] for x in (cell.x_min, cell.x_max))
        self.x_start = float(cell.x_max if hi >= lo else cell.x_min)
        self.g_start = float(max(lo, hi))
        self.params = LrCellParams(r_f=1.0 / self.g_start, opamp=CELL_OPAMP, v_adapt=-cal.polarity * cal.v_prog,
                                   t_adapt=0.0, v_read=v_read)
        self.gain_start = LearningRateCell(cell, x0=self.x_start, params=self.params).gain()
        self._engine = None

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
        """Learning-rate factor of layer ``k``'s cells (shape (1, 1) or W's): per layer the cell
        stage's gain against its gain at the start, per synapse ``G_c / G_c(start)``."""
        if self.per == "layer":
            gain = LearningRateCell(self.cell, x0=float(self.x[k][0, 0]), params=self.params).gain()
            return np.full((1, 1), gain / self.gain_start)
        return self.cell.conductance(self.x[k], self.v_read) / self.g_start

    def _use(self, k: int, width: float) -> float:
        """One use of layer ``k``'s cell circuit with an adaptation pulse of ``width`` s: the
        learning-rate factor it read (before the pulse); the cell's new state goes to ``self.x``."""
        params = replace(self.params, t_adapt=float(width))
        x0 = float(self.x[k][0, 0])
        if self.circuit == "spice":
            from memcircuit.spice import BatchEngine

            circuit, analysis, probes = use_circuit(self.cell, x0, params, T_READ)
            self._engine = self._engine or BatchEngine()
            result = self._engine.run(circuit, analysis)
            t = result.time
            gain = float(np.interp(probes["t_gain"], t, result[probes["out"]])) / self.v_read
            self.x[k][0, 0] = float(result[probes["state"]][-1])
            self._energy += float(np.trapezoid(result["v(in)"] * -result[probes["source"]], t))
            return gain / self.gain_start
        cell = LearningRateCell(self.cell, x0=x0, params=params, rng=self.rng)
        gain, g_before = cell.gain(), cell.conductance()
        # the same circuit with the twin: the reads at -v_read before and after, the pulse between
        current = self.cell.current(np.array([params.v_adapt]), np.array([x0]))[0] if width > 0 else 0.0
        g_after = cell.adapt()
        self.x[k][0, 0] = cell.x
        self._energy += float(params.v_read**2 * (g_before + g_after) * T_READ + abs(params.v_adapt * current) * width)
        return gain / self.gain_start

    def layer_update(self, k: int, x: np.ndarray, delta: np.ndarray) -> Update:
        g = x.T @ delta
        # program the cells with the activity of this step (after using their present value)
        level = np.sqrt(np.mean(g * g)) if self.per == "layer" else np.abs(g)
        self.g_ref[k][0] = max(self.g_ref[k][0], float(np.max(level)))
        activity = np.clip(level / self.g_ref[k][0], 0.0, 1.0) if self.g_ref[k][0] > 0 else np.zeros_like(level)
        if self.per == "layer":
            return Factored(x, -self.lr * self._use(k, float(activity) * self.cal.t_unit) * delta)
        scale = self.scale(k)
        upd = Dense(-self.lr * scale * g)
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
