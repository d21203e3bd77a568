"""Networks on tiles: forward/backward reads against the weight algebra, tiling, quantisation."""

from __future__ import annotations

import numpy as np
import pytest

from memcircuit.errors import ConfigError
from memcircuit.tiles import make_tile
from memcircuit.train.network import MappingConfig, Network, activate, activation_slope, quantise, softmax


def _factory(fidelity: str, **kw):
    return lambda rows, cols, g: make_tile(fidelity, rows, cols, g=g, **kw)


def _reference(weights, x, y, activation="tanh"):
    """Plain numpy forward/backward of the same MLP (bias row last)."""
    a, inputs, pres = x, [], []
    for k, w in enumerate(weights):
        inputs.append(a)
        z = np.c_[a, np.ones(len(a))] @ w
        pres.append(z)
        a = softmax(z) if k == len(weights) - 1 else activate(z, activation)
    delta = (a - np.eye(weights[-1].shape[1])[y]) / len(y)
    grads = []
    for k in range(len(weights) - 1, -1, -1):
        grads.append(np.c_[inputs[k], np.ones(len(y))].T @ delta)
        if k:
            delta = (delta @ weights[k][:-1].T) * activation_slope(pres[k - 1], inputs[k], activation)
    return a, grads[::-1]


@pytest.mark.parametrize("signed", ["differential", "reference"])
@pytest.mark.parametrize("tile", [(64, 64), (3, 4)])
def test_forward_backward_equal_weight_algebra(signed, tile):
    rng = np.random.default_rng(0)
    cfg = MappingConfig(1e-6, 1e-4, signed=signed, w_max=1.5, tile_rows=tile[0], tile_cols=tile[1])
    net = Network([5, 7, 4, 3], cfg, _factory("ideal"), rng, activation="tanh")
    if tile == (3, 4):   # really split: several row and column blocks per layer
        assert len(net.layers[0].row_blocks) == 2 and len(net.layers[0].col_blocks) >= 2
    x, y = rng.normal(size=(6, 5)) * 2, rng.integers(0, 3, 6)
    w = net.weights()
    cache = net.forward(x)
    probs, grads = _reference(w, x, y, "tanh")
    np.testing.assert_allclose(cache.probs, probs, rtol=1e-10, atol=1e-12)
    for (xk, dk), g in zip(net.backward(cache, y), grads):
        np.testing.assert_allclose(xk.T @ dk, g, rtol=1e-9, atol=1e-12)


def test_weights_are_clipped_and_centred():
    cfg = MappingConfig(1e-6, 1e-4, w_max=1.0)
    rng = np.random.default_rng(1)
    w0 = [np.array([[0.5, -2.0], [0.0, 0.25]]), np.array([[1.0, -1.0], [0.1, 0.2], [0.0, 0.0]])]
    net = Network([1, 2, 2], cfg, _factory("ideal"), rng, weights=w0)
    np.testing.assert_allclose(net.weights()[0], np.clip(w0[0], -1, 1), atol=1e-12)
    g = net.layers[0].tiles[0][0].conductances()
    # a differential pair sits symmetrically around mid-range
    np.testing.assert_allclose(g[:, 0::2] + g[:, 1::2], 1e-6 + 1e-4, rtol=1e-12)


def test_numeric_fidelity_equals_ideal_without_wires_and_differs_with_them():
    rng = np.random.default_rng(2)
    cfg = MappingConfig(1e-6, 1e-4)
    x = rng.normal(size=(4, 8))
    ideal = Network([8, 6, 3], cfg, _factory("ideal"), np.random.default_rng(9)).forward(x).pre[0]
    plain = Network([8, 6, 3], cfg, _factory("numeric"), np.random.default_rng(9)).forward(x).pre[0]
    wired = Network([8, 6, 3], cfg, _factory("numeric", r_wire=2.0), np.random.default_rng(9)).forward(x).pre[0]
    np.testing.assert_allclose(plain, ideal, rtol=1e-9, atol=1e-12)
    rel = np.abs(wired - ideal).max() / np.abs(ideal).max()
    assert 1e-5 < rel < 0.02   # IR drop of 2 ohm segments: small but real


def test_quantise_mid_tread():
    x = np.array([-1.2, -0.5, -0.01, 0.0, 0.01, 0.33, 1.0])
    q = quantise(x, 3)   # levels -1, -2/3, -1/3, 0, 1/3, 2/3, 1
    np.testing.assert_allclose(q, [-1, -2 / 3, 0, 0, 0, 1 / 3, 1])
    np.testing.assert_array_equal(quantise(x, None), x)


def test_quantised_inputs_change_the_reads():
    rng = np.random.default_rng(3)
    base = MappingConfig(1e-6, 1e-4)
    coarse = MappingConfig(1e-6, 1e-4, input_bits=3, error_bits=3)
    x = rng.normal(size=(5, 6))
    z_full = Network([6, 3], base, _factory("ideal"), np.random.default_rng(4)).forward(x).pre[0]
    z_q = Network([6, 3], coarse, _factory("ideal"), np.random.default_rng(4)).forward(x).pre[0]
    assert 1e-3 < np.abs(z_full - z_q).max() / np.abs(z_full).max() < 0.5


def test_bad_mapping_config():
    with pytest.raises(ConfigError):
        MappingConfig(1e-4, 1e-6)
    with pytest.raises(ConfigError):
        MappingConfig(1e-6, 1e-4, signed="bipolar")
    with pytest.raises(ConfigError):
        MappingConfig(1e-6, 1e-4, input_bits=1)
    with pytest.raises(ConfigError):
        Network([4], MappingConfig(1e-6, 1e-4), _factory("ideal"), np.random.default_rng(0))


@pytest.mark.ngspice
def test_spice_reads_equal_ideal_reads():
    """Forward and backward reads through ngspice (zero wire R, ideal sense) equal G^T V."""
    rng = np.random.default_rng(5)
    cfg = MappingConfig(1e-6, 1e-4)
    ideal = Network([4, 3, 2], cfg, _factory("ideal"), np.random.default_rng(8))
    spice = Network([4, 3, 2], cfg, _factory("spice"), np.random.default_rng(8))
    try:
        x, y = rng.normal(size=(3, 4)), np.array([0, 1, 1])
        c1, c2 = ideal.forward(x), spice.forward(x)
        np.testing.assert_allclose(c2.probs, c1.probs, rtol=1e-6)
        for (xa, da), (xb, db) in zip(ideal.backward(c1, y), spice.backward(c2, y)):
            np.testing.assert_allclose(xb, xa, rtol=1e-6, atol=1e-12)   # layer inputs (hidden activations)
            np.testing.assert_allclose(db, da, rtol=1e-5, atol=1e-9 * np.abs(da).max())
    finally:
        spice.close()
