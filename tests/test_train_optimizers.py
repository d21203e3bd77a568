"""Optimizer rules against their closed forms; the fuzzy controller; state round trips."""

from __future__ import annotations

import numpy as np
import pytest

from memcircuit.errors import ConfigError
from memcircuit.train.optimizers import SGD, Adaptive, Dense, Factored, FuzzyLR, Momentum


def _grads(rng, shapes, batch=4):
    return [(rng.normal(size=(batch, s[0])), rng.normal(size=(batch, s[1]))) for s in shapes]


SHAPES = [(5, 3), (4, 2)]


def test_sgd_is_rank_one_factors_of_the_gradient():
    rng = np.random.default_rng(0)
    opt = SGD(0.3)
    opt.setup(SHAPES, rng)
    grads = _grads(rng, SHAPES)
    for upd, (x, d) in zip(opt.step(grads), grads):
        assert isinstance(upd, Factored)
        np.testing.assert_allclose(upd.dense(), -0.3 * x.T @ d)


def test_momentum_closed_form():
    rng = np.random.default_rng(1)
    opt = Momentum(0.1, 0.8)
    opt.setup(SHAPES, rng)
    seq = [_grads(rng, SHAPES) for _ in range(5)]
    v = [np.zeros(s) for s in SHAPES]
    for grads in seq:
        ups = opt.step(grads)
        for k, (x, d) in enumerate(grads):
            v[k] = 0.8 * v[k] - 0.1 * x.T @ d
            assert isinstance(ups[k], Dense)
            np.testing.assert_allclose(ups[k].dw, v[k], rtol=1e-12)


def test_rmsprop_closed_form_and_scale_invariance():
    rng = np.random.default_rng(2)
    opt = Adaptive(0.01, "rmsprop", momentum=0.0, rho=0.9, eps=1e-12)
    opt.setup(SHAPES, rng)
    grads = _grads(rng, SHAPES)
    g = grads[0][0].T @ grads[0][1]
    step = opt.step(grads)[0].dense()
    np.testing.assert_allclose(step, -0.01 * g / np.sqrt(0.1 * g * g), rtol=1e-9)
    # RMSprop's first step has magnitude lr/sqrt(1 - rho) whatever the gradient scale
    opt2 = Adaptive(0.01, "rmsprop", momentum=0.0, rho=0.9, eps=1e-12)
    opt2.setup(SHAPES, rng)
    np.testing.assert_allclose(opt2.step([(1e3 * x, d) for x, d in grads])[0].dense(), step, rtol=1e-9)


def test_delta_bar_delta_grows_on_steady_sign_and_shrinks_on_flips():
    opt = Adaptive(0.1, "delta-bar-delta", momentum=0.0, kappa_rel=0.1, phi=0.5, theta=0.5)
    opt.setup([(1, 2)], np.random.default_rng(0))
    x = np.ones((1, 1))
    for t in range(6):   # weight 0: same gradient sign; weight 1: alternating sign
        opt.step([(x, np.array([[1.0, (-1.0) ** t]]))])
    eta = opt.eta[0][0]
    assert eta[0] == pytest.approx(0.1 + 5 * 0.01)   # +kappa on every agreeing step after the first
    assert eta[1] < 0.1 * 0.5 ** 4                   # halved on every disagreement


def test_fuzzy_controller_rules():
    f = FuzzyLR(SGD(1.0), span=0.05, up=1.1, down=0.7, brake=0.5)
    assert f.multiplier(-0.2, 0.0) == pytest.approx(1.1)    # loss falling fast: speed up
    assert f.multiplier(0.0, 0.0) == pytest.approx(1.0)     # plateau: keep
    assert f.multiplier(+0.2, 0.0) == pytest.approx(0.7)    # loss rising: slow down
    assert f.multiplier(-0.2, +0.2) == pytest.approx(0.5)   # over-fitting: brake
    m = f.multiplier(-0.025, 0.0)                           # between Neg and Zero: interpolates
    assert 1.0 < m < 1.1
    f.setup(SHAPES, np.random.default_rng(0))
    for train, val in ((1.0, 1.0), (0.8, 0.85), (0.6, 0.9)):   # train falls, validation rises
        f.end_epoch(train, val)
    assert f.inner.lr < 1.0


@pytest.mark.parametrize("make", [lambda: Momentum(0.1, 0.5), lambda: Adaptive(0.1, "delta-bar-delta"),
                                  lambda: Adaptive(0.1, "rmsprop"), lambda: FuzzyLR(Momentum(0.2, 0.9))])
def test_state_round_trip_resumes_exactly(make):
    rng = np.random.default_rng(4)
    seq = [_grads(rng, SHAPES) for _ in range(6)]
    a, b = make(), make()
    a.setup(SHAPES, np.random.default_rng(0))
    b.setup(SHAPES, np.random.default_rng(0))
    for grads in seq[:3]:
        a.step(grads)
    a.end_epoch(1.0, 1.1)
    b.load_state_dict({k: (np.array(v) if isinstance(v, np.ndarray) else v) for k, v in a.state_dict().items()})
    for grads in seq[3:]:
        for ua, ub in zip(a.step(grads), b.step(grads)):
            np.testing.assert_array_equal(ua.dense(), ub.dense())


def test_bad_parameters():
    with pytest.raises(ConfigError):
        SGD(-1.0)
    with pytest.raises(ConfigError):
        Momentum(0.1, 1.0)
    with pytest.raises(ConfigError):
        Adaptive(0.1, "adam")


@pytest.mark.parametrize(("optimizer", "options", "message"), [
    ("sgd", {"foo": 1}, "takes no --opt options"),
    ("momentum", {"rho": 0.9}, "takes no --opt options"),
    ("adaptive", {"nope": 1}, "has no option 'nope'"),
    ("adaptive", {"rho": "abc"}, "rho=abc: a number is expected"),
])
def test_bad_optimizer_options_are_named(optimizer, options, message):
    from memcircuit.train.loop import TrainConfig
    from memcircuit.train.optimizers import make_optimizer

    cfg = TrainConfig(optimizer=optimizer, optimizer_options=options)
    with pytest.raises(ConfigError, match=message):
        make_optimizer(cfg, None, None)
