"""Convolution on tiles (im2col), pooling and flatten in the periphery, and CNN training.

The references are written here with direct loops over samples, filters and positions, not with
the im2col code under test."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_cli_foundation import memcircuit

from memcircuit.errors import ConfigError
from memcircuit.tiles import make_tile
from memcircuit.train.conv import ConvNetwork, parse_spec
from memcircuit.train.datasets import load_dataset
from memcircuit.train.model import ConvModel, conv_from_tiled, load_npz
from memcircuit.train.network import MappingConfig

G_MIN, G_MAX = 1e-6, 1e-4


def conv_ref(x, w, b, stride=1, pad=0):
    """Direct conv2d (cross-correlation, as ONNX Conv) of x (B, C, H, W) with w (F, C, kh, kw)."""
    bsz, _, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    out = np.zeros((bsz, f, ho, wo))
    for n in range(bsz):
        for q in range(f):
            for i in range(ho):
                for j in range(wo):
                    win = xp[n, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
                    out[n, q, i, j] = b[q] + np.sum(win * w[q])
    return out


def pool_ref(x, k, kind):
    bsz, c, h, w = x.shape
    out = np.zeros((bsz, c, h // k, w // k))
    for n in range(bsz):
        for q in range(c):
            for i in range(h // k):
                for j in range(w // k):
                    win = x[n, q, i * k:(i + 1) * k, j * k:(j + 1) * k]
                    out[n, q, i, j] = win.max() if kind == "maxpool" else win.mean()
    return out


def loss_ref(x, y, w1, b1, w2, b2, stride, pad, pool):
    """Mean cross-entropy of conv -> tanh -> pool -> flatten -> dense -> softmax, by loops."""
    a = pool_ref(np.tanh(conv_ref(x, w1, b1, stride, pad)), 2, pool).reshape(len(x), -1)
    z = a @ w2 + b2
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -np.mean(logp[np.arange(len(y)), y])


def _ideal_factory(rows, cols, g):
    return make_tile("ideal", rows, cols, g=g)


def _net(spec, shape, weights=None, seed=0):
    cfg = MappingConfig(G_MIN, G_MAX, "differential", 1.0, 0.1, 64, 64)
    _, stages = parse_spec(spec)
    return ConvNetwork(stages, shape, cfg, _ideal_factory, np.random.default_rng(seed), weights=weights)


@pytest.mark.parametrize("side,stride,pad,pool", [(6, 1, 0, "maxpool"), (6, 1, 1, "avgpool"), (8, 2, 1, "maxpool")])
def test_conv_forward_and_backward_on_tiles_match_direct_loops(side, stride, pad, pool):
    rng = np.random.default_rng(1)
    c, f = 2, 3
    x = rng.normal(size=(4, c, side, side))
    y = np.array([0, 1, 2, 1])
    w1, b1 = rng.uniform(-0.4, 0.4, (f, c, 3, 3)), rng.uniform(-0.2, 0.2, f)
    ho = (side + 2 * pad - 3) // stride + 1
    n_flat = f * (ho // 2) ** 2
    w2, b2 = rng.uniform(-0.5, 0.5, (n_flat, 3)), rng.uniform(-0.2, 0.2, 3)
    spec = f"conv:{f}x3x3:s{stride}:p{pad},tanh,{pool}:2,flatten,dense:3"
    net = _net(spec, (c, side, side), weights=[np.vstack([w1.reshape(f, -1).T, b1]), np.vstack([w2, b2])])
    cache = net.forward(x.reshape(4, -1))
    np.testing.assert_allclose(cache.pre[0], conv_ref(x, w1, b1, stride, pad), rtol=1e-9, atol=1e-12)
    grads = [xr.T @ d for xr, d in net.backward(cache, y)]
    # numerical gradient of the loop reference, every conv weight and a sample of dense weights
    eps = 1e-6
    g1 = np.zeros_like(w1)
    for idx in np.ndindex(w1.shape):
        wp, wm = w1.copy(), w1.copy()
        wp[idx] += eps
        wm[idx] -= eps
        g1[idx] = (loss_ref(x, y, wp, b1, w2, b2, stride, pad, pool)
                   - loss_ref(x, y, wm, b1, w2, b2, stride, pad, pool)) / (2 * eps)
    gb1 = np.array([(loss_ref(x, y, w1, b1 + eps * np.eye(f)[q], w2, b2, stride, pad, pool)
                     - loss_ref(x, y, w1, b1 - eps * np.eye(f)[q], w2, b2, stride, pad, pool)) / (2 * eps)
                    for q in range(f)])
    np.testing.assert_allclose(grads[0][:-1], g1.reshape(f, -1).T, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(grads[0][-1], gb1, rtol=1e-5, atol=1e-8)
    k = (min(2, n_flat - 1), 1)
    w2p, w2m = w2.copy(), w2.copy()
    w2p[k] += eps
    w2m[k] -= eps
    num = (loss_ref(x, y, w1, b1, w2p, b2, stride, pad, pool) - loss_ref(x, y, w1, b1, w2m, b2, stride, pad, pool))
    assert grads[1][k] == pytest.approx(num / (2 * eps), rel=1e-5)
    net.close()


def test_conv_model_npz_round_trip_and_software_forward(tmp_path):
    rng = np.random.default_rng(2)
    _, stages = parse_spec("conv:2x3x3,relu,avgpool:2,flatten,dense:3")
    tiles = [rng.normal(size=(10, 2)), rng.normal(size=(9, 3))]
    model = conv_from_tiled(stages, (1, 6, 6), tiles)
    back = load_npz(model.save_npz(tmp_path / "cnn.npz"))
    assert isinstance(back, ConvModel) and [str(s) for s in back.stages] == [str(s) for s in stages]
    for a, b in zip(back.stacked(), tiles):
        np.testing.assert_array_equal(a, b)
    x = rng.normal(size=(3, 36))
    z = back.forward(x)
    np.testing.assert_allclose(z[0], conv_ref(x.reshape(3, 1, 6, 6), back.weights[0], back.biases[0]), rtol=1e-12)
    with pytest.raises(ConfigError, match="shape mismatch"):
        ConvModel(tuple(stages), (1, 6, 6), (np.zeros((2, 1, 3, 3)), np.zeros((7, 3))), (np.zeros(2), np.zeros(3)))


@pytest.mark.parametrize("spec,match", [
    ("conv:8x3x3,relu,maxpool:2,dense:10", "put flatten before it"),
    ("conv:8x3x3,relu,flatten,dense:7", "the data set has 10 classes"),
    ("conv:8x9x9,flatten,dense:10", "does not fit"),
    ("conv:8x3x3,relu,maxpool:4,flatten,dense:10", "must tile"),
    ("input:2x8x8,conv:8x3x3,flatten,dense:10", "128 values"),
    ("conv:8x3x3:q2,flatten,dense:10", "conv option"),
    ("conv:8x3x3,relu,flatten", "last stage must be dense"),
    ("pool:2", "unknown stage"),
])
def test_bad_model_spec_is_one_line_before_training(tmp_path, spec, match):
    r = memcircuit("train", "--dataset", "digits", "--model", spec, "--out", str(tmp_path / "run"), "--epochs", "1")
    assert r.returncode == 2, r.stderr
    assert match in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_model_and_layers_together_are_refused(tmp_path):
    r = memcircuit("train", "--model", "dense:3", "--layers", "4,3", "--out", str(tmp_path / "r"))
    assert r.returncode == 2 and "pass one" in r.stderr


def test_cnn_learns_digits_on_tiles_and_writes_a_model_infer_reads(tmp_path):
    """A small CNN trained through ideal tiles by SSM pulses (the update of the conv layer is the
    im2col batch) beats chance by far after one epoch, and its network.npz reads back to the
    test accuracy in software (ideal reads are exact)."""
    out = tmp_path / "run"
    r = memcircuit("train", "--dataset", "digits", "--model", "conv:4x3x3,relu,maxpool:2,flatten,dense:10",
                   "--optimizer", "ssm", "--lr", "2", "--batch", "16", "--epochs", "1", "--fidelity", "ideal",
                   "--max-train", "400", "--out", str(out), "--json", "-")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["final_test_acc"] > 0.6
    assert summary["epochs"][0]["device_pulses"] > 0
    model = load_npz(out / "network.npz")
    assert isinstance(model, ConvModel) and model.weights[0].shape == (4, 1, 3, 3)
    data = load_dataset("digits", seed=0, max_train=400)
    z = model.forward(data.x_test)[-1]
    assert np.mean(z.argmax(axis=1) == data.y_test) == pytest.approx(summary["final_test_acc"], abs=1.5 / len(z))


@pytest.mark.ngspice
def test_conv_forward_and_backward_reads_agree_between_spice_and_numeric():
    """The same small CNN (6x6 input, two 3x3 filters, 1 ohm wires) read forward and backward in
    ngspice and in the nodal solver: pre-activations and gradient factors agree."""
    rng = np.random.default_rng(8)
    x = rng.normal(size=(2, 36))
    y = np.array([0, 2])
    weights = [rng.uniform(-0.5, 0.5, (10, 2)), rng.uniform(-0.5, 0.5, (9, 3))]
    out = {}
    for fid in ("numeric", "spice"):
        cfg = MappingConfig(G_MIN, G_MAX, "differential", 1.0, 0.1, 64, 64)
        _, stages = parse_spec("conv:2x3x3,tanh,avgpool:2,flatten,dense:3")
        net = ConvNetwork(stages, (1, 6, 6), cfg, lambda r, c, g, f=fid: make_tile(f, r, c, g=g, r_wire=1.0),
                          np.random.default_rng(0), weights=weights)
        try:
            cache = net.forward(x)
            out[fid] = (cache.pre, net.backward(cache, y))
        finally:
            net.close()
    for zn, zs in zip(out["numeric"][0], out["spice"][0]):
        np.testing.assert_allclose(zs, zn, rtol=1e-6, atol=1e-9)
    for (xn, dn), (xs, ds) in zip(out["numeric"][1], out["spice"][1]):
        np.testing.assert_allclose(xs, xn, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(ds, dn, rtol=1e-6, atol=1e-9)
