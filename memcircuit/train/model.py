"""A trained dense network in software: weights, biases and activations, and its ``.npz`` file.

``network.npz`` layout (numpy ``.npz``, no pickled objects), for ``L`` layers ``k = 0 .. L-1``:

* ``W{k}``: (n_in, n_out) float weights of layer ``k``, so that ``z = a @ W{k} + b{k}``;
* ``b{k}``: (n_out,) float biases (optional: zero when missing);
* ``activation``: string array of ``L`` names, the function after each layer: hidden layers
  ``relu``, ``sigmoid``, ``tanh`` or ``identity``; the output layer also ``softmax``. A single
  string (or ``L - 1`` names) sets the hidden layers and leaves the output ``softmax``.

Convolutional networks (:class:`ConvModel`, :mod:`memcircuit.train.conv`) add two keys, and
their ``W{k}`` count the conv and dense stages in order:

* ``stages``: string array of the chain's stages in the model-spec syntax of
  :mod:`memcircuit.train.conv` (``conv:8x3x3``, ``relu``, ``maxpool:2``, ``flatten``,
  ``dense:10``, ...); its presence marks the file as a convolutional network;
* ``input_shape``: int array ``(C, H, W)`` of one sample (features are read in that order);
* ``W{k}`` of a conv stage: ``(F, C, kh, kw)`` (the ONNX and PyTorch layout), of a dense stage
  ``(n_in, n_out)``; ``b{k}``: ``(F,)`` or ``(n_out,)``;
* ``activation``: the output function only (``softmax`` or ``identity``); the hidden
  activations are stages.

Predictions are the argmax of the output; ``memcircuit train`` writes this file as
``network.npz`` in its run directory, with the weights its tiles hold at the end of the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from memcircuit.errors import ConfigError
from memcircuit.train.checkpoint import save_npz_atomic
from memcircuit.train.conv import Stage, chain_forward, layer_sizes, parse_spec, plan, tile_stage_activations
from memcircuit.train.network import LAYER_ACTIVATIONS, activate, softmax

OUTPUT_ACTIVATIONS = (*LAYER_ACTIVATIONS, "softmax")


def apply_activation(z: np.ndarray, kind: str) -> np.ndarray:
    """``kind`` (:data:`OUTPUT_ACTIVATIONS`) applied to pre-activations ``z`` (batch, n)."""
    return softmax(z) if kind == "softmax" else activate(z, kind)


@dataclass(frozen=True)
class DenseModel:
    """A chain of fully connected layers ``a_{k+1} = f_k(a_k W_k + b_k)`` (see module doc)."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    activations: tuple[str, ...]
    source: str = ""

    def __post_init__(self) -> None:
        w = tuple(np.asarray(x, dtype=float) for x in self.weights)
        b = tuple(np.asarray(x, dtype=float).reshape(-1) for x in self.biases)
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "biases", b)
        object.__setattr__(self, "activations", tuple(str(a) for a in self.activations))
        where = f"{self.source}: " if self.source else ""
        if not w:
            raise ConfigError(f"{where}the network has no layers")
        if not len(w) == len(b) == len(self.activations):
            raise ConfigError(f"{where}{len(w)} weight matrices need as many biases and activations, "
                              f"got {len(b)} and {len(self.activations)}")
        for k, (wk, bk) in enumerate(zip(w, b)):
            if wk.ndim != 2:
                raise ConfigError(f"{where}weights of layer {k} must be a 2-D matrix, got shape {wk.shape}")
            if bk.shape != (wk.shape[1],):
                raise ConfigError(f"{where}layer {k} has {wk.shape[1]} outputs but {bk.size} biases")
            if k and wk.shape[0] != w[k - 1].shape[1]:
                raise ConfigError(f"{where}layer {k} takes {wk.shape[0]} inputs but layer {k - 1} gives "
                                  f"{w[k - 1].shape[1]} outputs")
            if not (np.all(np.isfinite(wk)) and np.all(np.isfinite(bk))):
                raise ConfigError(f"{where}layer {k} has weights or biases that are not finite")
        for k, kind in enumerate(self.activations):
            allowed = OUTPUT_ACTIVATIONS if k == len(w) - 1 else LAYER_ACTIVATIONS
            if kind not in allowed:
                raise ConfigError(f"{where}activation of layer {k} must be one of {', '.join(allowed)}, got {kind!r}")

    @property
    def sizes(self) -> list[int]:
        """``[n_in, hidden..., n_out]``."""
        return [self.weights[0].shape[0]] + [w.shape[1] for w in self.weights]

    def stacked(self) -> list[np.ndarray]:
        """Per layer the (n_in + 1, n_out) matrix with the bias row last (the tiles' layout)."""
        return [np.vstack([w, b[None, :]]) for w, b in zip(self.weights, self.biases)]

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        """Pre-activations ``z_k`` (batch, n_out) of every layer for inputs ``x`` (batch, n_in)."""
        out, a = [], np.asarray(x, dtype=float)
        for w, b, kind in zip(self.weights, self.biases, self.activations):
            z = a @ w + b
            out.append(z)
            a = apply_activation(z, kind)
        return out

    def output(self, z_last: np.ndarray) -> np.ndarray:
        """The network's output from the last layer's pre-activations."""
        return apply_activation(z_last, self.activations[-1])

    def save_npz(self, path: str | Path) -> Path:
        """Write the layout of the module doc (atomically: a reader never sees half a file)."""
        arrays: dict[str, np.ndarray] = {"activation": np.array(self.activations)}
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            arrays[f"W{k}"], arrays[f"b{k}"] = w, b
        return save_npz_atomic(path, arrays)

    def layer_shapes(self) -> list[tuple[int, int]]:
        """(inputs, outputs) of every layer's weight matrix (without the bias row)."""
        return [w.shape for w in self.weights]

    @classmethod
    def load_npz(cls, path: str | Path) -> DenseModel:
        """Read the layout of the module doc; any problem is one :class:`ConfigError` line."""
        p = Path(path)
        arrays, n = _layer_arrays(p, ())
        weights = [arrays[f"W{k}"] for k in range(n)]
        biases = [arrays.get(f"b{k}", np.zeros(np.shape(weights[k])[-1])) for k in range(n)]
        act = np.atleast_1d(arrays.get("activation", np.array("relu")))
        if act.dtype.kind not in "US":
            raise ConfigError(f"{p}: activation must be a string array, got {act.dtype}")
        names = [str(a) for a in act]
        if len(names) == 1 and n > 1:
            names = names * (n - 1) + ["softmax"]
        elif len(names) == n - 1:
            names = names + ["softmax"]
        elif len(names) != n:
            raise ConfigError(f"{p}: {n} layers need {n} activations (or {n - 1} for the hidden layers), "
                              f"got {len(names)}")
        return cls(tuple(weights), tuple(biases), tuple(names), source=str(p))


def _read_npz(p: Path) -> dict[str, np.ndarray]:
    if not p.is_file():
        raise ConfigError(f"model file not found: {p}")
    try:
        with np.load(p, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (ValueError, OSError, EOFError) as exc:
        raise ConfigError(f"{p} is not an .npz network ({exc or 'empty file'})") from None


def _layer_arrays(p: Path, keys: tuple[str, ...]) -> tuple[dict[str, np.ndarray], int]:
    """The arrays of ``p`` and its number of layers; refuses a file without ``W0``, with keys
    beyond ``W{k}``, ``b{k}``, ``activation`` and ``keys``, or with weights that are not numbers."""
    arrays = _read_npz(p)
    n = 0
    while f"W{n}" in arrays:
        n += 1
    if n == 0:
        raise ConfigError(f"{p}: no weight matrices W0, W1, ... (keys: {', '.join(sorted(arrays)) or 'none'})")
    extra = sorted(set(arrays) - {f"W{k}" for k in range(n)} - {f"b{k}" for k in range(n)} - {"activation", *keys})
    if extra:
        raise ConfigError(f"{p}: unexpected keys {', '.join(extra)} (layout: {''.join(k + ', ' for k in keys)}"
                          "W0, b0, W1, b1, ..., activation)")
    for key, arr in arrays.items():
        if key.startswith(("W", "b")) and not np.issubdtype(arr.dtype, np.number):
            raise ConfigError(f"{p}: {key} must hold numbers, got {arr.dtype}")
    return arrays, n


def load_npz(path: str | Path) -> DenseModel | ConvModel:
    """A :class:`ConvModel` when the file has ``stages``, else a :class:`DenseModel` (module doc)."""
    p = Path(path)
    return ConvModel.load_npz(p) if "stages" in _read_npz(p) else DenseModel.load_npz(p)


@dataclass(frozen=True)
class ConvModel:
    """A chain of conv, pooling, flatten, activation and dense stages in software
    (:mod:`memcircuit.train.conv`); ``weights``/``biases`` per conv or dense stage (module doc)."""

    stages: tuple[Stage, ...]
    input_shape: tuple[int, ...]
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    output_activation: str = "softmax"
    source: str = ""

    def __post_init__(self) -> None:
        where = self.source or "model"
        object.__setattr__(self, "stages", tuple(self.stages))
        object.__setattr__(self, "input_shape", tuple(int(s) for s in self.input_shape))
        object.__setattr__(self, "weights", tuple(np.asarray(w, dtype=float) for w in self.weights))
        object.__setattr__(self, "biases", tuple(np.asarray(b, dtype=float).reshape(-1) for b in self.biases))
        shapes = plan(self.stages, self.input_shape, where=where)
        sizes = layer_sizes(self.stages, shapes)
        tiles = [st for st in self.stages if st.on_tiles]
        if not len(self.weights) == len(self.biases) == len(tiles):
            raise ConfigError(f"{where}: {len(tiles)} conv/dense stages need as many weights and biases, got "
                              f"{len(self.weights)} and {len(self.biases)}")
        for k, (st, (n_in, n_out), w, b) in enumerate(zip(tiles, sizes, self.weights, self.biases)):
            c_in = n_in // (st.kh * st.kw) if st.kind == "conv" else n_in
            want = (st.n, c_in, st.kh, st.kw) if st.kind == "conv" else (n_in, n_out)
            if w.shape != want:
                raise ConfigError(f"{where}: shape mismatch: weights of layer {k} ({st}) must be {want}, got {w.shape}")
            if b.shape != (n_out,):
                raise ConfigError(f"{where}: shape mismatch: layer {k} ({st}) has {n_out} outputs but {b.size} biases")
            if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
                raise ConfigError(f"{where}: layer {k} has weights or biases that are not finite")
        if self.output_activation not in ("softmax", "identity"):
            raise ConfigError(f"{where}: the output activation must be softmax or identity, "
                              f"got {self.output_activation!r}")

    @property
    def activations(self) -> tuple[str, ...]:
        """After every conv or dense layer: its activation (``identity`` when none), the output's last."""
        return (*tile_stage_activations(self.stages), self.output_activation)

    @property
    def sizes(self) -> list[int]:
        """Values per sample of the input, then outputs of every conv or dense layer per position."""
        return [int(np.prod(self.input_shape))] + [b.size for b in self.biases]

    def layer_shapes(self) -> list[tuple[int, int]]:
        """(rows without bias, columns) of every layer's matrix on tiles (im2col for conv)."""
        return [(w.shape[0] - 1, w.shape[1]) for w in self.stacked()]

    def stacked(self) -> list[np.ndarray]:
        """Per conv or dense layer the (n_in + 1, n_out) matrix with the bias row last (conv:
        ``W.reshape(F, -1).T``, rows in im2col order)."""
        return [np.vstack([(w.reshape(w.shape[0], -1).T if w.ndim == 4 else w), b[None, :]])
                for w, b in zip(self.weights, self.biases)]

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        """Pre-activations of every conv (batch, F, Ho, Wo) and dense (batch, n) layer."""
        mats = self.stacked()
        cache = chain_forward(self.stages, x, lambda k, a: a @ mats[k][:-1] + mats[k][-1], self.input_shape,
                              output="identity")
        return cache.pre

    def output(self, z_last: np.ndarray) -> np.ndarray:
        return apply_activation(z_last, self.output_activation)

    def save_npz(self, path: str | Path) -> Path:
        """Write the layout of the module doc (atomically)."""
        arrays: dict[str, np.ndarray] = {"activation": np.array([self.output_activation]),
                                         "stages": np.array([str(s) for s in self.stages]),
                                         "input_shape": np.array(self.input_shape, dtype=np.int64)}
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            arrays[f"W{k}"], arrays[f"b{k}"] = w, b
        return save_npz_atomic(path, arrays)

    @classmethod
    def load_npz(cls, path: str | Path) -> ConvModel:
        """Read the convolutional layout of the module doc; any problem is one :class:`ConfigError` line."""
        p = Path(path)
        arrays, n = _layer_arrays(p, ("stages", "input_shape"))
        if "input_shape" not in arrays or arrays["input_shape"].dtype.kind not in "iu":
            raise ConfigError(f"{p}: a convolutional network needs input_shape, integers (C, H, W)")
        spec = arrays["stages"]
        if spec.dtype.kind not in "US":
            raise ConfigError(f"{p}: stages must be a string array, got {spec.dtype}")
        _, stages = parse_spec(",".join(str(s) for s in np.atleast_1d(spec)))
        act = [str(a) for a in np.atleast_1d(arrays.get("activation", np.array("softmax")))]
        weights = [arrays[f"W{k}"] for k in range(n)]
        biases = [arrays.get(f"b{k}", np.zeros(weights[k].shape[0] if weights[k].ndim == 4 else weights[k].shape[-1]))
                  for k in range(n)]
        return cls(tuple(stages), tuple(arrays["input_shape"].tolist()), tuple(weights), tuple(biases), act[-1],
                   source=str(p))


def conv_from_tiled(stages, input_shape, weights: list[np.ndarray], output: str = "softmax") -> ConvModel:
    """A :class:`ConvModel` from per-layer (n_in + 1, n_out) tile matrices (bias row last)."""
    ws, bs = [], []
    shape = tuple(input_shape)
    for st, (i, _) in zip(stages, plan(stages, shape)):
        if st.on_tiles:
            w = weights[len(ws)]
            ws.append(w[:-1].T.reshape(st.n, i[0], st.kh, st.kw) if st.kind == "conv" else w[:-1])
            bs.append(w[-1])
    return ConvModel(tuple(stages), shape, tuple(ws), tuple(bs), output)


def from_tiled(weights: list[np.ndarray], activations: list[str], output: str = "softmax") -> DenseModel:
    """A :class:`DenseModel` from per-layer (n_in + 1, n_out) matrices with the bias row last
    (:meth:`memcircuit.train.network.Network.weights`) and the hidden activations."""
    return DenseModel(tuple(w[:-1] for w in weights), tuple(w[-1] for w in weights), (*activations, output))
