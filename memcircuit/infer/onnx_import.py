"""Dense and convolutional networks from ONNX files (what PyTorch, Keras and scikit-learn export).

The graph must be a chain from its one data input to its one output, in the operators:
``Gemm`` (``transA = 0``; ``alpha``, ``beta``, ``transB`` applied), ``MatMul`` with a constant
matrix followed by an ``Add`` of a constant bias, ``Conv`` (2-D, constant weights ``(F, C, kh,
kw)`` and bias, one group, no dilation, equal strides and symmetric zero padding), ``MaxPool``
and ``AveragePool`` (square windows with stride equal to the window, no padding), the
activations ``Relu``, ``Sigmoid``, ``Tanh``, ``Flatten`` (``axis = 1``) and ``Reshape`` to 2-D
(batch x features), ``Softmax`` on the last axis after the last layer, and ``Identity``,
``Dropout`` (inference: no-ops), ``Constant`` (values for the others). A graph without ``Conv``
and pooling becomes a :class:`~memcircuit.train.model.DenseModel`, one with them a
:class:`~memcircuit.train.model.ConvModel` (its input needs fixed ``C x H x W`` dimensions), the
same mapping on tiles as ``memcircuit train --model`` (:mod:`memcircuit.train.conv`). Anything else is refused
with one line naming the operator and its node. A graph may have further outputs that are not
float tensors (a classifier's integer ``label`` from ArgMax and Cast); the nodes that lead only
there are not evaluated. Operator semantics: the ONNX operator specification (onnx.ai,
Operators.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from memcircuit.errors import ConfigError
from memcircuit.train.conv import Stage, stage_shape
from memcircuit.train.model import ConvModel, DenseModel

SUPPORTED = ("Gemm", "MatMul", "Add", "Conv", "MaxPool", "AveragePool", "Relu", "Sigmoid", "Tanh", "Flatten",
             "Reshape", "Softmax", "Identity", "Dropout", "Constant")
_ACT = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Softmax": "softmax"}
_POOL = {"MaxPool": "maxpool", "AveragePool": "avgpool"}


def _load(path: Path):
    try:  # optional (the `onnx` extra): .npz models need nothing more
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


def input_shape(model) -> tuple[int, ...] | None:
    """Non-batch dimensions of the graph's data input, None if one is symbolic."""
    inits = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    dims = inputs[0].type.tensor_type.shape.dim[1:]
    if not dims or any(not d.HasField("dim_value") for d in dims):
        return None
    return tuple(int(d.dim_value) for d in dims)


def input_width(model) -> int | None:
    """Values per sample of the graph's data input (product of its non-batch dimensions), None if
    a dimension is symbolic."""
    shape = input_shape(model)
    return None if shape is None else int(np.prod(shape))


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


def load_onnx(path: str | Path) -> DenseModel | ConvModel:
    """A :class:`DenseModel` or :class:`ConvModel` from an ONNX file (see module doc for what is accepted)."""
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
    shape = input_shape(model)        # of the current tensor, without the batch axis (None: unknown)
    stages: list[Stage] = []
    weights: list[np.ndarray] = []
    biases: list[np.ndarray] = []
    acts: list[str | None] = []
    bias_open = False          # the last layer came from a MatMul and may take an Add

    def fail(node, k: int, why: str) -> ConfigError:
        return ConfigError(f"{p}: node {_node_name(node, k)} ({node.op_type}): {why}")

    def constant(node, k: int, name: str) -> np.ndarray:
        if name not in const:
            raise fail(node, k, f"input {name!r} must be a constant (initializer); the network must be a chain "
                                "of layers")
        return const[name]

    def add_layer(node, k: int, w: np.ndarray, b: np.ndarray) -> None:
        nonlocal shape
        n_in = None if shape is None else int(np.prod(shape))
        if w.ndim != 2:
            raise fail(node, k, f"weight must be a 2-D matrix, got shape {w.shape}")
        if n_in is not None and w.shape[0] != n_in:
            raise fail(node, k, f"shape mismatch: the weight matrix takes {w.shape[0]} inputs but its input has "
                                f"{n_in} values")
        if b.size not in (1, w.shape[1]):
            raise fail(node, k, f"shape mismatch: {b.size} biases for {w.shape[1]} outputs")
        if shape is not None and len(shape) != 1:
            stages.append(Stage("flatten"))
        add_weights(w, b, Stage("dense", w.shape[1]))
        shape = (w.shape[1],)

    def add_weights(w: np.ndarray, b: np.ndarray, stage: Stage) -> None:
        if acts and acts[-1] is None:
            acts[-1] = "identity"      # two layers in a row: the first one is linear
        weights.append(w)
        biases.append(np.broadcast_to(b.reshape(-1), (stage.n,)).copy())
        acts.append(None)
        stages.append(stage)

    def image(node, k: int) -> tuple[int, int, int]:
        if shape is None or len(shape) != 3:
            raise fail(node, k, "needs a C x H x W input with fixed dimensions, got "
                                f"{'unknown dimensions' if shape is None else 'x'.join(map(str, shape))}")
        return shape  # type: ignore[return-value]

    def next_shape(node, k: int, stage: Stage) -> tuple[int, ...]:
        try:
            return stage_shape(stage, shape)
        except ValueError as exc:
            raise fail(node, k, str(exc)) from None

    def square(node, k: int, a: dict, name: str, default: list[int]) -> int:
        vals = [int(v) for v in a.get(name, default)]
        if len(vals) != 2 or vals[0] != vals[1]:
            raise fail(node, k, f"{name} {vals}: only 2-D operators with equal values in both directions are "
                                "supported")
        return vals[0]

    def spatial(node, k: int, a: dict, pool: bool) -> tuple[int, int, int]:
        """(window, stride, pad) of a Conv or pooling node, refusing what the mapping lacks."""
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
            raise fail(node, k, f"auto_pad {a['auto_pad']!r} is not supported (give explicit pads)")
        pads = [int(v) for v in a.get("pads", [0, 0, 0, 0])]
        if len(set(pads)) > 1:
            raise fail(node, k, f"pads {pads}: only equal zero padding on every side is supported")
        if any(int(v) != 1 for v in a.get("dilations", [1, 1])):
            raise fail(node, k, "dilated windows are not supported")
        size = square(node, k, a, "kernel_shape", [0, 0])
        stride = square(node, k, a, "strides", [1, 1])
        if pool and (stride != size or pads[0] or a.get("ceil_mode", 0)):
            raise fail(node, k, f"{size}x{size} pooling with stride {stride}, pads {pads}: only windows that tile "
                                "the input (stride = window, no padding, ceil_mode 0) are supported")
        return size, stride, pads[0]

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
        if op not in SUPPORTED:
            raise ConfigError(f"{p}: unsupported operator {op} in node {_node_name(node, k)}; memcircuit infer takes "
                              f"{', '.join(SUPPORTED)}")
        if data != [current]:
            raise fail(node, k, f"takes {', '.join(data) or 'only constants'}, not the output of the previous "
                                f"operator ({current}); the network must be a chain of layers")
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
        elif op == "Conv":
            c = image(node, k)[0]
            w = constant(node, k, node.input[1])
            if w.ndim != 4:
                raise fail(node, k, f"only 2-D convolution is supported (weights F x C x kh x kw), got shape {w.shape}")
            if int(a.get("group", 1)) != 1:
                raise fail(node, k, f"group = {a['group']}: only ordinary convolution (group 1) is supported")
            if w.shape[1] != c:
                raise fail(node, k, f"shape mismatch: the weights take {w.shape[1]} channels but the input has {c}")
            a.setdefault("kernel_shape", list(w.shape[2:]))
            size, stride, pad = spatial(node, k, a, pool=False)
            if w.shape[2:] != (size, size):
                raise fail(node, k, f"shape mismatch: kernel_shape {size}x{size} but weights {w.shape}")
            b = constant(node, k, node.input[2]) if len(node.input) > 2 and node.input[2] else np.zeros(1)
            if b.size not in (1, w.shape[0]):
                raise fail(node, k, f"shape mismatch: {b.size} biases for {w.shape[0]} filters")
            stage = Stage("conv", w.shape[0], size, size, stride, pad)
            out = next_shape(node, k, stage)
            add_weights(w, b, stage)
            shape = out
            bias_open = False
        elif op in _POOL:
            image(node, k)
            size, _, _ = spatial(node, k, a, pool=True)
            stage = Stage(_POOL[op], kh=size, kw=size, stride=size)
            shape = next_shape(node, k, stage)
            stages.append(stage)
            bias_open = False
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
                raise fail(node, k, "an activation needs a dense or conv layer before it")
            if acts[-1] is not None:
                raise fail(node, k, f"a second activation after {acts[-1]}")
            if op == "Softmax" and a.get("axis", -1) not in (-1, 1):
                raise fail(node, k, f"Softmax over axis {a['axis']}: only the last (class) axis is supported")
            acts[-1] = _ACT[op]
            if op != "Softmax":
                stages.append(Stage(_ACT[op]))
            bias_open = False
        elif op == "Flatten":
            if a.get("axis", 1) != 1:
                raise fail(node, k, f"Flatten with axis {a['axis']}: only axis 1 (batch x features) is supported")
            if shape is not None and len(shape) != 1:
                stages.append(Stage("flatten"))
                shape = (int(np.prod(shape)),)
        elif op == "Reshape":
            target = constant(node, k, node.input[1]).astype(int).reshape(-1)
            if target.size != 2:
                raise fail(node, k, f"Reshape to {tuple(target)}: only reshapes to batch x features are supported")
            if shape is not None and len(shape) != 1:
                stages.append(Stage("flatten"))
                shape = (int(np.prod(shape)),)
        current = node.output[0]
    if output != current:
        raise ConfigError(f"{p}: the graph output {output} must be the end of the chain ({current})")
    if not weights:
        raise ConfigError(f"{p}: no dense layer (Gemm or MatMul) in the graph")
    names = [x if x is not None else "identity" for x in acts]
    for k, kind in enumerate(names[:-1]):
        if kind == "softmax":
            raise ConfigError(f"{p}: Softmax after layer {k}: only the last layer may end in Softmax")
    if any(st.kind == "conv" or st.kind in _POOL.values() for st in stages):
        if stages[-1].kind != "dense":
            raise ConfigError(f"{p}: a convolutional network must end in a dense layer (Gemm or MatMul; Softmax may "
                              f"follow), got {stages[-1]} last")
        return ConvModel(tuple(stages), input_shape(model), tuple(weights), tuple(biases),
                         "softmax" if names[-1] == "softmax" else "identity", source=str(p))
    return DenseModel(tuple(weights), tuple(biases), tuple(names), source=str(p))
