"""A trained dense network in software: weights, biases and activations, and its ``.npz`` file.

``network.npz`` layout (numpy ``.npz``, no pickled objects), for ``L`` layers ``k = 0 .. L-1``:

* ``W{k}``: (n_in, n_out) float weights of layer ``k``, so that ``z = a @ W{k} + b{k}``;
* ``b{k}``: (n_out,) float biases (optional: zero when missing);
* ``activation``: string array of ``L`` names, the function after each layer: hidden layers
  ``relu``, ``sigmoid``, ``tanh`` or ``identity``; the output layer also ``softmax``. A single
  string (or ``L - 1`` names) sets the hidden layers and leaves the output ``softmax``.

Predictions are the argmax of the output; ``memcircuit train`` writes this file as
``network.npz`` in its run directory, with the weights its tiles hold at the end of the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from memcircuit.errors import ConfigError
from memcircuit.train.checkpoint import save_npz_atomic
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

    @classmethod
    def load_npz(cls, path: str | Path) -> DenseModel:
        """Read the layout of the module doc; any problem is one :class:`ConfigError` line."""
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"model file not found: {p}")
        try:
            with np.load(p, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (ValueError, OSError, EOFError) as exc:
            raise ConfigError(f"{p} is not an .npz network ({exc or 'empty file'})") from None
        n = 0
        while f"W{n}" in arrays:
            n += 1
        if n == 0:
            raise ConfigError(f"{p}: no weight matrices W0, W1, ... (keys: {', '.join(sorted(arrays)) or 'none'})")
        extra = sorted(set(arrays) - {f"W{k}" for k in range(n)} - {f"b{k}" for k in range(n)} - {"activation"})
        if extra:
            raise ConfigError(f"{p}: unexpected keys {', '.join(extra)} (layout: W0, b0, W1, b1, ..., activation)")
        for key, arr in arrays.items():
            if key != "activation" and not np.issubdtype(arr.dtype, np.number):
                raise ConfigError(f"{p}: {key} must hold numbers, got {arr.dtype}")
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


def from_tiled(weights: list[np.ndarray], activations: list[str], output: str = "softmax") -> DenseModel:
    """A :class:`DenseModel` from per-layer (n_in + 1, n_out) matrices with the bias row last
    (:meth:`memcircuit.train.network.Network.weights`) and the hidden activations."""
    return DenseModel(tuple(w[:-1] for w in weights), tuple(w[-1] for w in weights), (*activations, output))
