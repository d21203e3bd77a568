"""Streaming batch PCA and NMF of the batch gradient (paper 4) against numpy's SVD, and the
MBGD / rank-seq / rank-sum optimizers through real (ideal-fidelity) tiles."""

from __future__ import annotations

import numpy as np
import pytest
from pulse_device_double import attach, linear_network

from memcircuit.errors import ConfigError
from memcircuit.train.lowrank import StreamingBatchPCA, StreamingNMF, dense_memory, make_decomposer
from memcircuit.train.optimizers.mbgd import MBGD, LowRankMBGD
from memcircuit.train.optimizers.pulsed import make_pulse_optimizer


def _low_rank_batch(rng, n_rows=12, n_cols=7, rank=2, batch=16):
    """(x, delta) whose gradient x^T delta has exactly ``rank``."""
    basis = rng.standard_normal((rank, n_rows))
    x = rng.standard_normal((batch, rank)) @ basis
    return x, rng.standard_normal((batch, n_cols))


def test_pca_is_exact_for_a_gradient_of_lower_rank():
    rng = np.random.default_rng(0)
    x, delta = _low_rank_batch(rng)
    pca = StreamingBatchPCA(3, 12, 7, rng)
    f = pca.decompose(x, delta)
    g = x.T @ delta
    assert f.u.shape == (3, 12) and f.v.shape == (3, 7)
    assert np.allclose(f.dense(), g, atol=1e-10 * np.abs(g).max())


def test_streaming_pca_converges_to_the_truncated_svd():
    """Repeating one batch, the warm-started power iteration reaches the Eckart-Young optimum."""
    rng = np.random.default_rng(1)
    x, delta = rng.standard_normal((20, 15)), rng.standard_normal((20, 9))
    g = x.T @ delta
    u, s, vt = np.linalg.svd(g)
    k = 3
    best = (u[:, :k] * s[:k]) @ vt[:k]
    pca = StreamingBatchPCA(k, 15, 9, rng)
    first = np.linalg.norm(pca.decompose(x, delta).dense() - g)
    for _ in range(200):
        f = pca.decompose(x, delta)
    assert first > 1.05 * np.linalg.norm(best - g)            # one iteration from random is not optimal
    assert np.allclose(f.dense(), best, atol=1e-6 * np.abs(g).max())
    # the rank-1 terms come out in order of singular value
    assert np.allclose(np.linalg.norm(f.u, axis=1) * np.linalg.norm(f.v, axis=1), s[:k], rtol=1e-6)


def test_nmf_terms_are_one_signed_and_reconstruct_nonnegative_structure():
    rng = np.random.default_rng(2)
    w_pos, h_pos = rng.random((10, 2)), rng.random((2, 6))
    g_pos = w_pos @ h_pos
    g = np.where(rng.random((10, 6)) < 0.7, g_pos, -g_pos)     # mixed signs
    # x^T delta = g with x = identity rows
    x, delta = np.eye(10), g
    nmf = StreamingNMF(4, 10, 6, rng, max_iter=2000, tol=1e-8)
    f = nmf.decompose(x, delta)
    assert np.all(f.u >= 0)
    pos = np.all(f.v >= 0, axis=1)
    neg = np.all(f.v <= 0, axis=1)
    assert np.all(pos | neg) and pos.sum() <= 4 and neg.sum() <= 4
    parts = f.u[pos].T @ f.v[pos], -(f.u[neg].T @ f.v[neg])
    for approx, exact in zip(parts, (np.maximum(g, 0), np.maximum(-g, 0))):
        # rank-4 NMF of a masked rank-2 pattern: at least as good as the truncated SVD at rank 2
        u, s, vt = np.linalg.svd(exact)
        svd2 = np.linalg.norm((u[:, :2] * s[:2]) @ vt[:2] - exact)
        assert np.linalg.norm(approx - exact) <= svd2 * 1.01
    # an exactly nonnegative rank-2 gradient is recovered
    f2 = StreamingNMF(2, 10, 6, rng, max_iter=2000, tol=1e-10).decompose(np.eye(10), g_pos)
    assert np.linalg.norm(f2.dense() - g_pos) < 1e-3 * np.linalg.norm(g_pos)
    assert f2.u.shape[0] == 2                                   # no negative part, no negative terms


def test_periphery_memory_accounting():
    rng = np.random.default_rng(3)
    assert dense_memory(65, 30).persistent == 65 * 30
    pca = make_decomposer("pca", 3, 65, 30, rng)
    assert (pca.memory().persistent, pca.memory().working) == (3 * 30, 3 * 95 + 3)
    nmf = make_decomposer("nmf", 3, 65, 30, rng)
    assert (nmf.memory().persistent, nmf.memory().working) == (6 * 95, 6 * 95 + 65 * 30)
    assert make_decomposer("pca", 50, 65, 30, rng).rank == 30     # rank is capped by the layer
    with pytest.raises(ConfigError):
        make_decomposer("svd", 3, 4, 4, rng)
    with pytest.raises(ConfigError):
        make_decomposer("pca", 0, 4, 4, rng)


@pytest.mark.parametrize("method", ["pca", "nmf"])
def test_decomposer_state_round_trip(method):
    rng = np.random.default_rng(4)
    batches = [(rng.standard_normal((8, 9)), rng.standard_normal((8, 5))) for _ in range(3)]
    a = make_decomposer(method, 2, 9, 5, np.random.default_rng(5))
    for x, d in batches[:2]:
        a.decompose(x, d)
    b = make_decomposer(method, 2, 9, 5, np.random.default_rng(99))
    b.load_state(a.state())
    fa, fb = a.decompose(*batches[2]), b.decompose(*batches[2])
    assert np.allclose(fa.dense(), fb.dense(), atol=1e-12)


def _mean_update(opt, net, layer_k, x, delta, trials, seed=0):
    layer = net.layers[layer_k]
    g0 = [t.conductances() for t in layer.all_tiles()]
    w0 = layer.weights()
    rng = np.random.default_rng(seed)
    dws = []
    for _ in range(trials):
        upd = opt.layer_update(layer_k, x, delta)
        opt.program(layer_k, layer, upd, rng)
        dws.append(layer.weights() - w0)
        for t, g in zip(layer.all_tiles(), g0):
            t.set_conductances(g)
    dws = np.array(dws)
    return dws.mean(axis=0), dws.std(axis=0) / np.sqrt(trials)


@pytest.mark.parametrize("name,encoding", [("mbgd", None), ("pca-sum", None), ("pca-seq", "outer"),
                                           ("pca-seq", "coincidence"), ("nmf-seq", "outer")])
def test_expected_update_is_minus_lr_times_the_rank_k_gradient(name, encoding):
    """On exact linear devices the programmed change is unbiased: E[dW] = -lr G_k (G_k = G for
    MBGD and for a gradient whose rank is below k), for both rank-seq encoders."""
    net, cal = linear_network((4, 5, 3))
    lr = 0.3
    opts = {} if name == "mbgd" else {"rank": 3, **({"seq_encoding": encoding} if encoding else {})}
    opt = attach(make_pulse_optimizer(name, lr, **opts), net, cal)
    rng = np.random.default_rng(6)
    x = np.concatenate([rng.standard_normal((6, 4)), np.ones((6, 1))], axis=1)   # 4 inputs + bias
    x[:, 2:4] = x[:, :2] @ rng.standard_normal((2, 2))         # rank-3 input -> rank-3 gradient
    delta = 0.05 * rng.standard_normal((6, 5))
    # NMF factorises the positive and negative parts separately (not rank 3): full rank 5 there
    if name == "nmf-seq":
        opt = attach(make_pulse_optimizer(name, lr, rank=5, nmf_max_iter=400, seq_encoding=encoding), net, cal)
    trials = 60 if name != "nmf-seq" else 30
    mean, sem = _mean_update(opt, net, 0, x, delta, trials=trials)
    target = -lr * x.T @ delta
    # standard error floor: a cell whose pulse probability is near 0 or 1 can repeat by chance
    tol = 5 * np.maximum(sem, 0.3 * opt.w_unit / np.sqrt(trials))
    if name == "nmf-seq":
        tol += 0.02 * np.abs(target).max()                     # NMF of the two parts is approximate
    assert np.all(np.abs(mean - target) < tol), np.abs(mean - target).max()
    metrics = opt.epoch_metrics()
    assert metrics["device_pulses"] > 0 and metrics["devices_moved"] > 0


def test_rank_seq_is_noisier_than_rank_sum_and_rounding_matters():
    """Coincidence encoding of each rank-1 term adds variance over per-device stochastic rounding;
    nearest rounding loses sub-pulse updates entirely."""
    net, cal = linear_network((4, 5, 3))
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.standard_normal((6, 4)), np.ones((6, 1))], axis=1)
    delta = 0.05 * rng.standard_normal((6, 3))
    spread = {}
    for name in ("pca-sum", "pca-seq"):
        opt = attach(make_pulse_optimizer(name, 0.3, rank=3, seq_encoding="coincidence"), net, cal)
        _, sem = _mean_update(opt, net, 1, np.concatenate([x[:, :4], x[:, :1], x[:, 4:]], axis=1), delta, 40)
        spread[name] = sem.mean()
    assert spread["pca-seq"] > spread["pca-sum"]
    tiny = 0.2 * attach(MBGD(1.0), net, cal).w_unit
    opt = attach(MBGD(1.0, rounding="nearest"), net, cal)
    w0 = net.layers[1].weights()
    x1, d1 = np.ones((1, 6)), -np.full((1, 3), tiny / 6)
    for _ in range(10):
        opt.program(1, net.layers[1], opt.layer_update(1, x1, d1), rng)
    assert np.allclose(net.layers[1].weights(), w0) and opt.epoch_metrics()["device_pulses"] == 0
    opt = attach(MBGD(1.0, rounding="stochastic"), net, cal)
    for _ in range(10):
        opt.program(1, net.layers[1], opt.layer_update(1, x1, d1), rng)
    assert not np.allclose(net.layers[1].weights(), w0)


def test_low_rank_memory_reported_in_epoch_metrics():
    net, cal = linear_network((4, 5, 3))
    shapes = [(5, 5), (6, 3)]
    for name, expect in (("pca-seq", sum(2 * (a + b) + 2 for a, b in shapes)),
                         ("mbgd", sum(a * b for a, b in shapes))):
        opt = attach(make_pulse_optimizer(name, 0.1, **({"rank": 2} if name != "mbgd" else {})), net, cal)
        assert opt.epoch_metrics()["periphery_working_floats"] == expect
    with pytest.raises(ConfigError):
        LowRankMBGD(0.1, method="pca", apply="diagonal")
    with pytest.raises(ConfigError):
        make_pulse_optimizer("adam", 0.1)


@pytest.mark.parametrize("name", ["pca-seq", "nmf-sum"])
def test_low_rank_runs_resume_exactly_in_the_loop(tmp_path, monkeypatch, name):
    """The decomposers' streaming state (PCA basis, NMF factors) is checkpointed: a run stopped
    after one epoch and resumed equals the uninterrupted run."""
    from pulse_device_double import register

    from memcircuit.train.loop import TrainConfig, Trainer

    cfg = TrainConfig(dataset="iris", layers=(4, 5, 3), fidelity="ideal", epochs=2, batch=10, lr=0.5, optimizer=name,
                      device=register(monkeypatch, sigma=0.1), levels=50.0, max_train=60,
                      optimizer_options={"rank": 2})
    runs = {}
    for label, stops in (("full", [None]), ("part", [1, None])):
        for stop in stops:
            t = Trainer(cfg, tmp_path / label)
            summary = t.run(resume=True, stop_after=stop)
            states = [x.states() for x in t.net.tiles()]
            t.close()
        runs[label] = (summary, states)
    (a, sa), (b, sb) = runs["full"], runs["part"]
    for ra, rb in zip(a["epochs"], b["epochs"]):
        assert {k: v for k, v in ra.items() if k != "seconds"} == {k: v for k, v in rb.items() if k != "seconds"}
    for x, y in zip(sa, sb):
        np.testing.assert_array_equal(x, y)
    assert a["epochs"][-1]["periphery_floats"] > 0
