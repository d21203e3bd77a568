"""Optimizers as pulse-program generators (see :mod:`memcircuit.train.optimizers.base`).

``sgd`` (Soudry et al. 2015 outer-product circuit), ``momentum``, ``adaptive`` (RMSprop or
delta-bar-delta, with momentum), ``lr-cell`` (learning-rate memristor cells, paper 1) and
``fuzzy`` (fuzzy learning-rate control of momentum SGD from the loss trend, paper 1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from memcircuit.errors import ConfigError
from memcircuit.train.optimizers.adaptive import RULES, Adaptive
from memcircuit.train.optimizers.base import Dense, Factored, Optimizer, Update
from memcircuit.train.optimizers.fuzzy import FuzzyLR
from memcircuit.train.optimizers.lrcell import LrCell
from memcircuit.train.optimizers.momentum import Momentum
from memcircuit.train.optimizers.pulsed import PULSE_OPTIMIZERS, make_pulse_optimizer
from memcircuit.train.optimizers.sgd import SGD

if TYPE_CHECKING:
    from memcircuit.devices.base import DeviceModel
    from memcircuit.train.loop import TrainConfig
    from memcircuit.train.pulses import PulseCalibration

Factory = Callable[["TrainConfig", "DeviceModel", "PulseCalibration"], Optimizer]
REGISTRY: dict[str, Factory] = {}
LR_CELL_DEVICE = "lr-cell"


def register_optimizer(name: str, factory: Factory) -> None:
    """Add an optimizer to ``memcircuit train --optimizer`` (``factory(cfg, device, calibration)``).

    The loop talks to the optimizer through :class:`~memcircuit.train.optimizers.base.Optimizer`'s
    methods only; rules that program the tiles themselves override ``program(k, layer, update,
    rng) -> [ProgramReport]`` (and ``epoch_metrics``, ``epoch_state``). Options reach the factory
    through ``cfg.optimizer_options`` (CLI ``--opt KEY=VALUE``).
    """
    REGISTRY[name] = factory


def _lr_cell(cfg, device, cal):
    from memcircuit.tiles import resolve_device
    from memcircuit.train.pulses import calibrate

    opts = dict(cfg.optimizer_options)
    cell = resolve_device(opts.pop("cell", LR_CELL_DEVICE))
    levels = float(opts.pop("cell_levels", 100.0))
    if opts:
        raise ConfigError(f"lr-cell options are cell and cell_levels, got {', '.join(opts)}")
    return LrCell(cfg.lr, cell, calibrate(cell, v_read=cfg.v_read, levels=levels), cfg.lr_cell_per, cfg.v_read,
                  fidelity=cfg.fidelity)


_NO_OPTIONS = ("sgd", "momentum")
register_optimizer("sgd", lambda cfg, device, cal: SGD(cfg.lr))
register_optimizer("momentum", lambda cfg, device, cal: Momentum(cfg.lr, cfg.momentum))
register_optimizer("adaptive", lambda cfg, device, cal: Adaptive(cfg.lr, cfg.adaptive_rule, cfg.momentum,
                                                                 **cfg.optimizer_options))
register_optimizer("lr-cell", _lr_cell)
register_optimizer("fuzzy", lambda cfg, device, cal: FuzzyLR(Momentum(cfg.lr, cfg.momentum), **cfg.optimizer_options))
for _name in PULSE_OPTIMIZERS:  # the pulse-level rules of papers 2, 4 and 5
    register_optimizer(_name, lambda cfg, device, cal, _n=_name: make_pulse_optimizer(_n, cfg.lr,
                                                                                      **cfg.optimizer_options))
OPTIMIZERS = tuple(REGISTRY)


def make_optimizer(cfg: TrainConfig, device: DeviceModel, cal: PulseCalibration) -> Optimizer:
    """The optimizer a :class:`~memcircuit.train.loop.TrainConfig` names (see :data:`REGISTRY`)."""
    if cfg.optimizer not in REGISTRY:
        raise ConfigError(f"optimizer must be one of {', '.join(REGISTRY)}, got {cfg.optimizer!r}")
    if cfg.optimizer in _NO_OPTIONS and cfg.optimizer_options:
        raise ConfigError(f"optimizer {cfg.optimizer} takes no --opt options (got {', '.join(cfg.optimizer_options)}); "
                          "its parameters are --lr" + (" and --momentum" if cfg.optimizer == "momentum" else ""))
    try:
        return REGISTRY[cfg.optimizer](cfg, device, cal)
    except TypeError as exc:  # unknown --opt keys, or a value of the wrong type
        text = str(exc)
        if "unexpected keyword argument" in text:
            name = text.split("argument")[-1].strip(" '\"")
            raise ConfigError(f"optimizer {cfg.optimizer} has no option {name!r}") from None
        bad = {k: v for k, v in cfg.optimizer_options.items() if isinstance(v, str)}
        raise ConfigError(f"optimizer {cfg.optimizer}: bad option value"
                          + (f" ({', '.join(f'{k}={v}' for k, v in bad.items())}: a number is expected)" if bad
                             else f" ({text})")) from None


__all__ = ["OPTIMIZERS", "RULES", "SGD", "Adaptive", "Dense", "Factored", "FuzzyLR", "LrCell", "Momentum",
           "Optimizer", "REGISTRY", "Update", "make_optimizer", "register_optimizer"]
