"""A linear-step memristor for the optimizer tests: an exact, analytic pulse response.

``g = g_min + (g_max - g_min) x``; a pulse of ``v`` V and ``width`` s moves the state by
``k (|v| - v_th) sign(v) width`` above the threshold ``v_th`` (nothing below), clipped to
[0, 1]; optional pulse-to-pulse noise ``sigma`` (relative, per pulse). Being linear in the pulse
count and exactly zero at half-select, it is the independent reference against which the pulse
optimizers' bookkeeping (coincidences, rounding, compensation) is checked; the device library's
own models are exercised by the reproduction scripts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memcircuit.devices.base import DeviceModel, DeviceParams


@dataclass(frozen=True)
class LinearStepParams(DeviceParams):
    g_min: float = 1e-6
    g_max: float = 1e-5
    v_th: float = 1.0
    k: float = 1e6
    sigma: float = 0.0


class LinearStepDevice(DeviceModel):
    family = "linear-step-test"
    params_class = LinearStepParams

    def _g(self, x):
        p = self.params
        return p.g_min + (p.g_max - p.g_min) * np.asarray(x, float)

    def current(self, v, x):
        return self._g(x) * np.asarray(v, float)

    def dxdt(self, v, x):
        v = np.asarray(v, float)
        return self.params.k * np.sign(v) * np.maximum(np.abs(v) - self.params.v_th, 0.0) + 0 * np.asarray(x)

    def integrate(self, t, v, x0):  # pragma: no cover - not used by the optimizer tests
        raise NotImplementedError

    def apply_pulse(self, x, amplitude, width, rng=None):
        dx = self.dxdt(amplitude, x) * np.asarray(width, float)
        if self.params.sigma > 0 and rng is not None:
            dx = dx * (1.0 + self.params.sigma * rng.standard_normal(np.shape(dx)))
        return np.clip(np.asarray(x, float) + dx, 0.0, 1.0)

    def behavioural_subckt(self):  # pragma: no cover - not used by the optimizer tests
        raise NotImplementedError


def linear_network(sizes=(4, 5, 3), *, sigma: float = 0.0, seed: int = 0, tile_rows: int = 64, tile_cols: int = 64,
                   signed: str = "differential"):
    """(network on ideal tiles of :class:`LinearStepDevice`, its pulse calibration)."""
    from memcircuit.tiles import make_tile
    from memcircuit.train.network import MappingConfig, Network
    from memcircuit.train.pulses import calibrate

    dev = LinearStepDevice(LinearStepParams(sigma=sigma))
    cal = calibrate(dev, v_read=0.1, levels=100)
    cfg = MappingConfig(1.2e-6, 9.8e-6, signed=signed, tile_rows=tile_rows, tile_cols=tile_cols)
    count = iter(range(1000))

    def factory(rows, cols, g):
        return make_tile("ideal", rows, cols, device=dev, g=g, v_read=0.1,
                         rng=np.random.default_rng([seed, next(count)]))

    return Network(list(sizes), cfg, factory, np.random.default_rng(seed)), cal


def attach(opt, net, cal, seed: int = 0):
    """``opt`` set up for ``net`` and attached to it (initial weights written as ``opt`` says)."""
    opt.setup([(a + 1, b) for a, b in zip(net.sizes[:-1], net.sizes[1:])], np.random.default_rng(seed))
    opt.attach(net, cal, np.random.default_rng([seed, 6]))
    return opt


def register(monkeypatch, sigma: float = 0.0) -> str:
    """Make the linear-step device available to the training loop by name (for this test only)."""
    import memcircuit.devices as devices
    from memcircuit.devices.model import Preset

    monkeypatch.setitem(devices.DEVICES, LinearStepDevice.family, LinearStepDevice)
    name = f"{LinearStepDevice.family}-s{sigma:g}"
    monkeypatch.setitem(devices.PRESETS, name, Preset(LinearStepDevice.family, {"sigma": sigma}, "test double"))
    return name
