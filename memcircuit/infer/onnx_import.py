"""Dense networks from ONNX files (what PyTorch, Keras and scikit-learn export).

The graph must be a chain from its one data input to its one output, in the operators:
``Gemm`` (``transA = 0``; ``alpha``, ``beta``, ``transB`` applied), ``MatMul`` with a constant
matrix followed by an ``Add`` of a constant bias, the activations ``Relu``, ``Sigmoid``,
``Tanh`` after a layer, ``Flatten`` (``axis = 1``) and ``Reshape`` to 2-D (no-ops on the
flattened inputs), ``Softmax`` on the last axis after the last layer, and ``Identity``,
``Dropout`` (inference: no-ops), ``Constant`` (values for the others). Anything else is refused
with one line naming the operator and its node. A graph may have further outputs that are not
float tensors (a classifier's integer ``label`` from ArgMax and Cast); the nodes that lead only
there are not evaluated. Operator semantics: the ONNX operator specification (onnx.ai,
Operators.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from memcircuit.errors import ConfigError
from memcircuit.train.model import DenseModel

SUPPORTED = ("Gemm", "MatMul", "Add", "Relu", "Sigmoid", "Tanh", "Flatten", "Reshape", "Softmax", "Identity",
             "Dropout", "Constant")
_ACT = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Softmax": "softmax"}
_CONV = {"Conv", "ConvTranspose", "ConvInteger", "QLinearConv", "MaxPool", "AveragePool", "GlobalAveragePool",
         "GlobalMaxPool"}


def _load(path: Path):
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise ConfigError("reading ONNX models needs the onnx package: pip install 'memcircuit[onnx]'") from None
    if not path.is_file():
        raise ConfigError(f"model file not found: {path}")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # the protobuf parser raises its own types
        raise ConfigError(f"{path} is not an ONNX model ({type(exc).__name__}: {exc})") from None
    if not model.graph.node:
        raise ConfigError(f"{path} is not an ONNX model with a graph (no nodes)")
    return model, numpy_helper


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _node_name(node, k: int) -> str:
    return node.name or f"#{k} ({'/'.join(node.output)})"


def input_width(model) -> int | None:
    """Values per sample of the graph's data input (product of its non-batch dimensions), None if
    a dimension is symbolic."""
    inits = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    dims = inputs[0].type.tensor_type.shape.dim[1:]
    if not dims or any(not d.HasField("dim_value") for d in dims):
        return None
    return int(np.prod([d.dim_value for d in dims]))


def _network_output(graph, source: Path) -> tuple[str, set[int]]:
    """The one float tensor output of the graph and the indices of the nodes it depends on.

    Exporters of classifiers add outputs the network does not need (scikit-learn's ``label``:
    ArgMax and Cast after the probabilities); nodes that do not lead to the float output are not
    evaluated (the argmax is taken again here)."""
    from onnx import TensorProto

    floats = (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16)
    candidates = [o.name for o in graph.output
                  if o.type.HasField("tensor_type") and o.type.tensor_type.elem_type in floats]
    if len(candidates) != 1:
        names = ", ".join(o.name for o in graph.output) or "none"
        raise ConfigError(f"{source}: the graph needs exactly one float tensor output (the network output), "
                          f"got {len(candidates)} among {names} (export classifiers without ZipMap)")
    producer = {name: k for k, node in enumerate(graph.node) for name in node.output}
    needed: set[int] = set()
    todo = [candidates[0]]
    while todo:
        k = producer.get(todo.pop())
        if k is not None and k not in needed:
            needed.add(k)
            todo.extend(graph.node[k].input)
    return candidates[0], needed


def load_onnx(path: str | Path) -> DenseModel:
    """A :class:`DenseModel` from an ONNX file (see module doc for what is accepted)."""
    p = Path(path)
    model, numpy_helper = _load(p)
    graph = model.graph
    const = {t.name: numpy_helper.to_array(t).astype(float) for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in const]
    if len(inputs) != 1:
        raise ConfigError(f"{p}: the graph needs exactly one data input, got {len(inputs)} "
                          f"({', '.join(i.name for i in inputs) or 'none'})")
    current = inputs[0].name
    output, needed = _network_output(graph, p)
    width = input_width(model)
    weights: list[np.ndarray] = []
    biases: list[np.ndarray] = []
    acts: list[str | None] = []
    bias_open = False          # the last layer came from a MatMul and may take an Add

    def fail(node, k: int, why: str) -> ConfigError:
        return ConfigError(f"{p}: node {_node_name(node, k)} ({node.op_type}): {why}")

    def constant(node, k: int, name: str) -> np.ndarray:
        if name not in const:
            raise fail(node, k, f"input {name!r} must be a constant (initializer); the network must be a chain "
                                "of dense layers")
        return const[name]

    def add_layer(node, k: int, w: np.ndarray, b: np.ndarray) -> None:
        n_in = weights[-1].shape[1] if weights else width
        if w.ndim != 2:
            raise fail(node, k, f"weight must be a 2-D matrix, got shape {w.shape}")
        if n_in is not None and w.shape[0] != n_in:
            raise fail(node, k, f"shape mismatch: the weight matrix takes {w.shape[0]} inputs but its input has "
                                f"{n_in} values")
        if b.size not in (1, w.shape[1]):
            raise fail(node, k, f"shape mismatch: {b.size} biases for {w.shape[1]} outputs")
        if acts and acts[-1] is None:
            acts[-1] = "identity"      # two layers in a row: the first one is linear
        weights.append(w)
        biases.append(np.broadcast_to(b.reshape(-1), (w.shape[1],)).copy())
        acts.append(None)

    for k, node in enumerate(graph.node):
        if k not in needed:
            continue
        op, a = node.op_type, _attrs(node)
        if op == "Constant":
            if "value" not in a:
                raise fail(node, k, "only tensor constants ('value') are supported")
            const[node.output[0]] = numpy_helper.to_array(a["value"]).astype(float)
            continue
        data = [name for name in node.input if name and name not in const]
        if op in _CONV:
            raise ConfigError(f"{p}: node {_node_name(node, k)} ({op}): convolution is not supported yet; "
                              "memcircuit infer takes dense networks")
        if op not in SUPPORTED:
            raise ConfigError(f"{p}: unsupported operator {op} in node {_node_name(node, k)}; memcircuit infer takes "
                              f"{', '.join(SUPPORTED)}")
        if data != [current]:
            raise fail(node, k, f"takes {', '.join(data) or 'only constants'}, not the output of the previous "
                                f"operator ({current}); the network must be a chain of dense layers")
        if acts and acts[-1] == "softmax" and op not in ("Identity", "Dropout", "Flatten", "Reshape"):
            raise fail(node, k, "only the last layer may end in Softmax")
        if op == "Gemm":
            if a.get("transA", 0):
                raise fail(node, k, "transA = 1 is not supported (the data input must be batch x features)")
            if node.input[0] != current:
                raise fail(node, k, "the data input must be Gemm's first input A")
            w = constant(node, k, node.input[1])
            w = w.T if a.get("transB", 0) else w
            b = constant(node, k, node.input[2]) if len(node.input) > 2 and node.input[2] else np.zeros(1)
            add_layer(node, k, float(a.get("alpha", 1.0)) * w, float(a.get("beta", 1.0)) * b)
            bias_open = False
        elif op == "MatMul":
            if node.input[0] != current:
                raise fail(node, k, "the data input must be MatMul's first input")
            add_layer(node, k, constant(node, k, node.input[1]), np.zeros(1))
            bias_open = True
        elif op == "Add":
            if not bias_open:
                raise fail(node, k, "Add is supported only as the bias right after a MatMul")
            other = [name for name in node.input if name != current]
            b = constant(node, k, other[0]) if other else None
            if b is None or b.size not in (1, weights[-1].shape[1]):
                raise fail(node, k, f"shape mismatch: the bias needs {weights[-1].shape[1]} values, got "
                                    f"{'none' if b is None else b.size}")
            biases[-1] = biases[-1] + np.broadcast_to(b.reshape(-1), biases[-1].shape)
            bias_open = False
        elif op in _ACT:
            if not weights:
                raise fail(node, k, "an activation needs a dense layer before it")
            if acts[-1] is not None:
                raise fail(node, k, f"a second activation after {acts[-1]}")
            if op == "Softmax" and a.get("axis", -1) not in (-1, 1):
                raise fail(node, k, f"Softmax over axis {a['axis']}: only the last (class) axis is supported")
            acts[-1] = _ACT[op]
            bias_open = False
        elif op == "Flatten":
            if a.get("axis", 1) != 1:
                raise fail(node, k, f"Flatten with axis {a['axis']}: only axis 1 (batch x features) is supported")
        elif op == "Reshape":
            shape = constant(node, k, node.input[1]).astype(int).reshape(-1)
            if shape.size != 2:
                raise fail(node, k, f"Reshape to {tuple(shape)}: only reshapes to batch x features are supported")
        current = node.output[0]
    if output != current:
        raise ConfigError(f"{p}: the graph output {output} must be the end of the chain ({current})")
    if not weights:
        raise ConfigError(f"{p}: no dense layer (Gemm or MatMul) in the graph")
    names = [x if x is not None else "identity" for x in acts]
    for k, kind in enumerate(names[:-1]):
        if kind == "softmax":
            raise ConfigError(f"{p}: Softmax after layer {k}: only the last layer may end in Softmax")
    return DenseModel(tuple(weights), tuple(biases), tuple(names), source=str(p))
