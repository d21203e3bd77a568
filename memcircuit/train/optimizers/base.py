"""Optimizers as pulse-program generators: the common part.

An optimizer turns the gradient of one layer into the weight change it wants, in one of two
forms that the pulse encoder (:mod:`memcircuit.train.pulses`) turns into programming pulses:

* :class:`Factored` ``dW = sum_b u_b v_b^T``: a sum of rank-1 outer products that the row and
  column drivers apply in parallel, one outer product after another (the SGD training circuit of
  Soudry et al., IEEE TNNLS 26(10), 2015: input on the row amplitudes, error on the column
  pulse durations). No weight-sized memory is needed in the periphery.
* :class:`Dense` ``dW``: one change per synapse (momentum, adaptive learning rates and
  per-synapse learning-rate cells keep per-weight state, so their change is not rank-1); the
  encoder programs it with per-device pulse widths.

Gradients arrive as the rank-1 factors of :meth:`memcircuit.train.network.Network.backward`:
``x`` (batch, n_in + 1) and ``delta`` (batch, n_out), gradient ``x^T delta``. Every optimizer
keeps its state in numpy arrays and floats (:meth:`state_dict`), so checkpoints resume exactly.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any

import numpy as np

from memcircuit.errors import ConfigError, TrainingError
from memcircuit.train.pulses import Dense as Dense  # the update forms live with their encoder
from memcircuit.train.pulses import Factored as Factored
from memcircuit.train.pulses import PulseCalibration, Update, encode_update

if TYPE_CHECKING:
    from memcircuit.tiles.base import ProgramReport
    from memcircuit.train.network import Network, TiledLayer


def positive(name: str, value: float) -> float:
    if not (np.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def fraction(name: str, value: float, *, closed: bool = False) -> float:
    ok = 0 <= value <= 1 if closed else 0 <= value < 1
    if not (np.isfinite(value) and ok):
        raise ConfigError(f"{name} must be in [0, 1{']' if closed else ')'}, got {value!r}")
    return float(value)


class Optimizer(abc.ABC):
    """Gradient -> desired weight change, per layer, with state that checkpoints can restore.

    The training loop talks to every optimizer through these methods only (no probing for
    optional ones): :meth:`setup`, :meth:`attach`, :meth:`step`, :meth:`program`,
    :meth:`take_cell_energy`, :meth:`end_epoch`, :meth:`epoch_metrics`, :meth:`effective_lr`,
    :meth:`describe`, the checkpoint state (:meth:`state_dict`, :meth:`load_state_dict`) and the
    running counters of an unfinished epoch (:meth:`epoch_state`, :meth:`load_epoch_state`). The
    defaults suit rules whose change the loop's encoder programs; pulse-level rules
    (:mod:`~memcircuit.train.optimizers.pulsed`) override :meth:`program` and the counters.
    """

    name: str = ""

    def __init__(self, lr: float) -> None:
        self.lr = positive("learning rate", lr)
        self.steps = 0
        self.net: Network | None = None
        self.cal: PulseCalibration | None = None
        self.scheme = "auto"

    def setup(self, shapes: list[tuple[int, int]], rng: np.random.Generator) -> None:
        """Called once with every layer's (n_in + 1, n_out) before the first step."""
        self.shapes = list(shapes)

    def attach(self, net: Network, cal: PulseCalibration, rng: np.random.Generator | None = None, *,
               scheme: str = "auto") -> None:
        """Called once, after :meth:`setup`, with the network on tiles, the pulse calibration and
        the pulse ``scheme`` of :func:`~memcircuit.train.pulses.encode_update`."""
        self.net, self.cal, self.scheme = net, cal, scheme

    def program(self, k: int, layer: TiledLayer, update: Update, rng: np.random.Generator) -> list[ProgramReport]:
        """Program layer ``k``'s ``update`` into its tiles; returns the tiles' reports."""
        if self.cal is None:
            raise ConfigError(f"optimizer {self.name}: call attach(network, calibration) first (the loop does)")
        return layer.program(encode_update(layer, update, self.cal, rng, scheme=self.scheme))

    def epoch_metrics(self) -> dict[str, Any]:
        """Extra metrics of the epoch that just ended (then reset); none by default."""
        return {}

    def epoch_state(self) -> dict[str, float]:
        """Running counters of the epoch in progress (saved in a partial checkpoint)."""
        return {}

    def load_epoch_state(self, state: dict[str, float]) -> None:
        """Restore :meth:`epoch_state` when a run resumes inside an epoch."""

    @abc.abstractmethod
    def layer_update(self, k: int, x: np.ndarray, delta: np.ndarray) -> Update:
        """The weight change of layer ``k`` for gradient factors ``x``, ``delta``."""

    def step(self, grads: list[tuple[np.ndarray, np.ndarray]]) -> list[Update]:
        """Weight changes of all layers for one mini-batch."""
        updates = []
        for k, (x, d) in enumerate(grads):
            try:
                updates.append(self.layer_update(k, x, d))
            except TrainingError as exc:
                exc.layer_index = k if exc.layer_index is None else exc.layer_index
                raise
        self.steps += 1
        return updates

    def end_epoch(self, train_loss: float, val_loss: float | None) -> None:
        """Hook for controllers that look at the loss trend (default: nothing)."""

    def take_cell_energy(self) -> float:
        """Energy (J) the optimizer's own circuits (learning-rate cells) have used since the last
        call; none by default."""
        return 0.0

    def effective_lr(self) -> float:
        """A scalar summary of the current learning rate, for the metrics."""
        return self.lr

    # -- checkpoint state ----------------------------------------------------------------------
    def _arrays(self) -> dict[str, list[np.ndarray]]:
        """Named per-layer state arrays (override)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"lr": self.lr, "steps": self.steps}
        for key, arrays in self._arrays().items():
            for k, a in enumerate(arrays):
                state[f"{key}.{k}"] = np.array(a, copy=True)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.lr = float(state["lr"])
        self.steps = int(state["steps"])
        for key, arrays in self._arrays().items():
            for k in range(len(arrays)):
                arrays[k][...] = state[f"{key}.{k}"]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "lr": self.lr}
