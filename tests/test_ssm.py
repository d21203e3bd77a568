"""SSM (paper 2): each part does what it claims, checked against analytic expectations on an
exact linear-step device through real (ideal-fidelity) tiles, and each switch changes the result."""

from __future__ import annotations

import numpy as np
import pytest
from pulse_device_double import attach, linear_network

from memcircuit.errors import ConfigError
from memcircuit.train.optimizers.base import Dense
from memcircuit.train.optimizers.pulsed import synapse_pulses
from memcircuit.train.optimizers.ssm import SSM


@pytest.fixture(scope="module")
def cal():
    return linear_network((2, 2))[1]


def test_stochastic_rounding_is_unbiased_and_nearest_loses_small_updates(cal):
    p = np.array([-2.7, -0.3, 0.0, 0.2, 0.45, 1.5, 3.1])
    rng = np.random.default_rng(0)
    draws = np.array([synapse_pulses(p, cal, rng) for _ in range(20000)])
    frac = np.abs(p) - np.floor(np.abs(p))
    sem = np.sqrt(frac * (1 - frac) / len(draws)) + 1e-12
    assert np.all(np.abs(draws.mean(axis=0) - p) < 5 * sem + 1e-9)
    assert set(np.unique(draws[:, 3])) == {0, 1}          # 0.2 -> 0 or 1 pulse
    nearest = synapse_pulses(p, cal, rng, stochastic=False)
    assert nearest.tolist() == [-3, 0, 0, 0, 0, 2, 3]     # |p| < 0.5 vanishes (round half to even at 1.5)
    capped = synapse_pulses(p, cal, rng, n_max=1)
    assert np.all(np.abs(capped) <= 1) and capped[0] == -1 and capped[-1] == 1


def test_momentum_filters_noise_by_the_ema_factor():
    """EMA of white noise: var(m) = (1 - beta) / (1 + beta) var(g)."""
    beta, sigma = 0.8, 1.0
    opt = SSM(1.0, momentum=beta)
    opt.setup([(3, 4)], np.random.default_rng(0))
    rng = np.random.default_rng(1)
    ms = []
    for _ in range(6000):
        x = np.ones((1, 3))
        delta = sigma * rng.standard_normal((1, 4)) / np.sqrt(3)   # g = x^T delta: every row equal
        ms.append(-opt.layer_update(0, x, delta).dense()[0])
    var_m = np.var(np.array(ms[100:]), axis=0)
    expected = (1 - beta) / (1 + beta) * sigma**2 / 3
    assert np.allclose(var_m, expected, rtol=0.12)
    # momentum off passes the gradient through
    off = SSM(1.0, momentum=0.0)
    off.setup([(3, 4)], np.random.default_rng(0))
    x, delta = np.ones((1, 3)), np.arange(4.0)[None]
    assert np.allclose(off.layer_update(0, x, delta).dense(), -(x.T @ delta))


def _constant_steps(opt, layer, dw, steps, seed=0):
    rng = np.random.default_rng(seed)
    w0 = layer.weights()
    for _ in range(steps):
        opt.program_layer(1, layer, Dense(dw), rng)
    return layer.weights() - w0


def test_rounding_compensation_recovers_sub_pulse_updates():
    """0.3 pulse per step: nearest rounding alone never pulses; with compensation the carried
    residual fires pulses so that the applied sum tracks the target within one pulse."""
    steps = 20
    results = {}
    for comp in ("none", "rounding"):
        net, cal = linear_network((3, 4, 2))
        opt = attach(SSM(0.1, stochastic=False, momentum=0.0, reinit_rounds=0, compensation=comp, n_max=None),
                     net, cal)
        dw = np.zeros((5, 2))
        dw[0, 0], dw[2, 1] = 0.3 * opt.w_unit, -0.7 * opt.w_unit
        results[comp] = (_constant_steps(opt, net.layers[1], dw, steps), dw * steps, opt.w_unit, opt.epoch_metrics())
    moved, target, w_unit, metrics = results["none"]
    assert np.allclose(moved[0, 0], 0.0, atol=1e-12) and metrics["device_pulses"] == pytest.approx(2 * 20)
    moved, target, w_unit, metrics = results["rounding"]
    assert np.all(np.abs(moved - target) <= w_unit * (1 + 1e-9))
    assert abs(moved[0, 0]) > 4 * w_unit


def test_readback_compensation_corrects_pulse_to_pulse_variation():
    """With 60 % pulse-to-pulse noise, read-back compensation keeps the weights on the requested
    trajectory; pulse-count compensation cannot see the noise and drifts like a random walk."""
    errors = {}
    for comp in ("rounding", "readback"):
        errs = []
        for seed in range(2):
            net, cal = linear_network((3, 6, 4), sigma=0.6, seed=seed)
            opt = attach(SSM(0.1, stochastic=False, momentum=0.0, reinit_rounds=0, compensation=comp, n_max=2),
                         net, cal)
            layer = net.layers[1]
            dw = -0.4 * np.sign(layer.weights()) * opt.w_unit     # towards and through zero: no bound hit
            moved = _constant_steps(opt, layer, dw, 40, seed)
            errs.append(np.sqrt(np.mean((moved - 40 * dw) ** 2)) / opt.w_unit)
        errors[comp] = np.mean(errs)
        if comp == "readback":
            assert opt.epoch_metrics()["array_reads"] == 40
    assert errors["readback"] < 0.5 * errors["rounding"], errors


def test_reinitialisation_repairs_an_open_loop_initial_write():
    def init_error(rounds: int) -> tuple[float, float]:
        net, cal = linear_network((6, 8, 4), sigma=0.3, seed=4)
        target = [layer.weights() for layer in net.layers]
        opt = attach(SSM(0.1, reinit_rounds=rounds, init="open-loop"), net, cal)
        opt.initialise(np.random.default_rng(0))
        err = np.sqrt(np.mean(np.concatenate([(layer.weights() - t).ravel() for layer, t in zip(net.layers, target)])
                              ** 2))
        return err / opt.w_unit, opt.epoch_metrics()["init_device_pulses"]

    open_loop, pulses_ol = init_error(0)
    verified, pulses_v = init_error(3)
    assert open_loop > 1.0               # 30 % pulse-to-pulse noise on the open-loop write
    assert verified < 0.35 * open_loop
    assert pulses_v > pulses_ol > 0


def test_sparse_stochastic_updates_pulse_few_devices():
    net, cal = linear_network((6, 10, 4))
    opt = attach(SSM(0.1, momentum=0.0, reinit_rounds=0, compensation="none"), net, cal)
    dw = 0.1 * opt.w_unit * np.ones((11, 4))
    _constant_steps(opt, net.layers[1], dw, 10, seed=2)
    m = opt.epoch_metrics()
    assert 0.04 < m["update_density"] < 0.17          # about |p| = 0.1 of the synapses per step
    assert m["periphery_floats"] == 0                 # no momentum, no residual


def test_ssm_checks_its_options():
    with pytest.raises(ConfigError):
        SSM(0.1, compensation="maybe")
    with pytest.raises(ConfigError):
        SSM(0.1, n_max=0)
    with pytest.raises(ConfigError):
        SSM(0.1, momentum=1.0)
    with pytest.raises(ConfigError):
        SSM(0.1, init="later")
    opt = SSM(0.1)
    opt.setup([(3, 2)], np.random.default_rng(0))
    with pytest.raises(ConfigError):
        opt.program(0, None, Dense(np.zeros((3, 2))), np.random.default_rng(0))


def test_density_sets_the_pulse_budget():
    from memcircuit.train.optimizers.ssm import budget_scale

    rng = np.random.default_rng(0)
    p = rng.standard_normal(3000) * rng.random(3000) ** 3
    for d in (0.01, 0.1, 0.5):
        c = budget_scale(p, d)
        assert np.mean(np.minimum(1, np.abs(c * p))) == pytest.approx(d, rel=1e-6)
    assert budget_scale(np.zeros(5), 0.1) == 0.0
    net, cal = linear_network((6, 10, 4))
    opt = attach(SSM(0.1, momentum=0.0, reinit_rounds=0, compensation="none", density=0.2), net, cal)
    dw = rng.standard_normal((11, 4)) * opt.w_unit * 1e-3        # tiny: lr alone would pulse almost nothing
    _constant_steps(opt, net.layers[1], dw, 20, seed=3)
    assert opt.epoch_metrics()["update_density"] == pytest.approx(0.2, abs=0.05)


def _train(tmp_path, name, **kw):
    from memcircuit.train.loop import TrainConfig, Trainer

    cfg = TrainConfig(**{**dict(dataset="iris", layers=(4, 6, 3), fidelity="ideal", epochs=3, batch=8, lr=0.5,
                                optimizer="ssm", levels=50.0), **kw})
    trainer = Trainer(cfg, tmp_path / name)
    try:
        return trainer.run(resume=True, stop_after=kw.pop("_stop", None)), [t.states() for t in trainer.net.tiles()]
    finally:
        trainer.close()


def test_ssm_in_the_training_loop_learns_resumes_exactly_and_ablates(tmp_path, monkeypatch):
    from pulse_device_double import register

    device = register(monkeypatch, sigma=0.2)
    opts = {"init": "open-loop", "density": 0.2}
    full, states = _train(tmp_path, "full", device=device, optimizer_options=opts, epochs=6)
    assert full["final_test_acc"] >= 0.8                       # chance is 1/3
    rows = full["epochs"]
    assert rows[0]["init_device_pulses"] > 0 and all(r["device_pulses"] > 0 for r in rows)
    assert all(0.15 < r["update_density"] < 0.5 for r in rows)   # budget 0.2, plus carried residuals
    # killed after 2 epochs and resumed: the same run
    from memcircuit.train.loop import TrainConfig, Trainer

    cfg = TrainConfig(dataset="iris", layers=(4, 6, 3), fidelity="ideal", epochs=6, batch=8, lr=0.5, optimizer="ssm",
                      device=device, optimizer_options=opts, levels=50.0)
    t = Trainer(cfg, tmp_path / "part")
    t.run(stop_after=2)
    t.close()
    t = Trainer(cfg, tmp_path / "part")
    part = t.run(resume=True)
    part_states = [x.states() for x in t.net.tiles()]
    t.close()
    for a, b in zip(full["epochs"], part["epochs"]):
        assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}
    for a, b in zip(states, part_states):
        np.testing.assert_array_equal(a, b)
    # conventional rounding at a small learning rate never pulses: the updates round to zero
    conv, _ = _train(tmp_path, "conv", device=device, lr=0.01, optimizer_options={
        "stochastic": False, "momentum": 0.0, "reinit_rounds": 0, "compensation": "none", "n_max": None})
    assert sum(r["device_pulses"] for r in conv["epochs"]) == 0
    stoch, _ = _train(tmp_path, "stoch", device=device, lr=0.01, optimizer_options={
        "momentum": 0.0, "reinit_rounds": 0, "compensation": "none"})
    assert sum(r["device_pulses"] for r in stoch["epochs"]) > 0


def test_stochastic_rounding_with_compensation_does_not_oscillate():
    """0.1 pulse per step: stochastic rounding fires about 0.1 pulse per step with or without
    rounding compensation (its zero-mean noise is not fed back); the applied sum tracks the target."""
    counts = {}
    for comp in ("none", "rounding"):
        net, cal = linear_network((3, 10, 8))
        opt = attach(SSM(0.1, stochastic=True, momentum=0.0, reinit_rounds=0, compensation=comp), net, cal)
        dw = np.full((11, 8), 0.1 * opt.w_unit)
        moved = _constant_steps(opt, net.layers[1], dw, 30, seed=5)
        counts[comp] = opt.epoch_metrics()["device_pulses"] / 2 / dw.size / 30   # synapse pulses per step
        assert abs(np.mean(moved) / opt.w_unit - 3.0) < 0.5
    assert counts["rounding"] == pytest.approx(0.1, abs=0.03) and counts["none"] == pytest.approx(0.1, abs=0.03)
