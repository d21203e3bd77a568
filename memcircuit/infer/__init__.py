"""Trained networks evaluated through tiles: ``.npz`` and ONNX import, placement, comparison.

Quick use::

    from memcircuit.infer import InferConfig, infer, load_model
    model = load_model("runs/iris/network.npz")          # or an .onnx file
    summary, outputs = infer(model, x, InferConfig(fidelity="numeric", r_wire=1.0), y)
    summary["accuracy"], summary["software_accuracy"], summary["changed_predictions"]
"""

from __future__ import annotations

from pathlib import Path

from memcircuit.errors import ConfigError
from memcircuit.infer.run import PLACEMENTS, CircuitNetwork, InferConfig, infer, layer_scales
from memcircuit.train.model import ConvModel, DenseModel, load_npz


def load_model(path: str | Path) -> DenseModel | ConvModel:
    """A :class:`DenseModel` or :class:`ConvModel` from ``.npz`` (:mod:`memcircuit.train.model`
    layout) or ``.onnx``."""
    suffix = Path(path).suffix.lower()
    if suffix == ".npz":
        return load_npz(path)
    if suffix == ".onnx":
        from memcircuit.infer.onnx_import import load_onnx

        return load_onnx(path)
    raise ConfigError(f"model files are .npz or .onnx, got {path}")


__all__ = ["PLACEMENTS", "CircuitNetwork", "ConvModel", "DenseModel", "InferConfig", "infer", "layer_scales",
           "load_model"]
