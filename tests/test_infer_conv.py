"""``memcircuit infer`` of convolutional networks: ONNX Conv graphs built in the tests with the onnx package."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_cli_foundation import memcircuit
from test_conv import conv_ref, pool_ref
from test_infer import refused_in_one_line

from memcircuit.infer import ConvModel, InferConfig, infer, load_model

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _t(name, arr):
    return numpy_helper.from_array(np.asarray(arr, dtype=np.float32), name)


def cnn_onnx(tmp_path, *, side=6, filters=2, classes=3, seed=0, pool="MaxPool", conv_in=1, extra=None,
             name="cnn"):
    """PyTorch-style export of Conv(3x3, pad 1) -> Relu -> pool 2 -> Flatten -> Gemm -> Softmax on a
    (N, 1, side, side) input; returns the path and the float32 weights as float64."""
    rng = np.random.default_rng(seed)
    k = rng.normal(0, 0.5, (filters, conv_in, 3, 3))
    kb = rng.normal(0, 0.1, filters)
    n_flat = filters * (side // 2) ** 2
    w = rng.normal(0, 1 / np.sqrt(n_flat), (classes, n_flat))
    b = rng.normal(0, 0.1, classes)
    nodes = [helper.make_node("Conv", ["x", "k", "kb"], ["c"], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu1"),
             helper.make_node(pool, ["r"], ["p"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"], name="flat", axis=1),
             helper.make_node("Gemm", ["f", "w", "b"], ["z"], name="fc", transB=1),
             helper.make_node("Softmax", ["z"], ["y"], name="softmax", axis=1)]
    nodes += extra or []
    x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, side, side])
    graph = helper.make_graph(nodes, name, [x_info],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", classes])],
                              [_t("k", k), _t("kb", kb), _t("w", w), _t("b", b)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    f32 = [a.astype(np.float32).astype(float) for a in (k, kb, w, b)]
    return path, f32


def reference(x, k, kb, w, b, pool="maxpool"):
    """The graph's logits by direct loops (test_conv references)."""
    a = pool_ref(np.maximum(conv_ref(x, k, kb, 1, 1), 0), 2, pool)
    return a.reshape(len(x), -1) @ w.T + b


@pytest.mark.parametrize("pool", ["MaxPool", "AveragePool"])
def test_onnx_cnn_in_software_and_at_ideal_reproduces_the_reference(tmp_path, pool):
    path, (k, kb, w, b) = cnn_onnx(tmp_path, pool=pool)
    model = load_model(path)
    assert isinstance(model, ConvModel) and [str(s) for s in model.stages] == [
        "conv:2x3x3:p1", "relu", "maxpool:2" if pool == "MaxPool" else "avgpool:2", "flatten", "dense:3"]
    x = np.random.default_rng(3).normal(size=(40, 36))
    ref = reference(x.reshape(40, 1, 6, 6), k, kb, w, b, "maxpool" if pool == "MaxPool" else "avgpool")
    np.testing.assert_allclose(model.forward(x)[-1], ref, rtol=1e-9, atol=1e-12)
    y = ref.argmax(axis=1)
    summary, out = infer(model, x, InferConfig(fidelity="ideal"), y)
    assert summary["changed_predictions"] == 0.0 and summary["accuracy"] == summary["software_accuracy"] == 1.0
    np.testing.assert_allclose(out["circuit"][-1], ref, rtol=1e-9, atol=1e-9)
    assert summary["layers"][0]["inputs"] == 9 and summary["layers"][0]["outputs"] == 2


def test_cnn_npz_and_onnx_give_the_same_model(tmp_path):
    model = load_model(cnn_onnx(tmp_path)[0])
    again = load_model(model.save_npz(tmp_path / "cnn.npz"))
    x = np.random.default_rng(4).normal(size=(5, 36))
    np.testing.assert_array_equal(again.forward(x)[-1], model.forward(x)[-1])


def test_numeric_with_wires_reports_a_small_error(tmp_path):
    model = load_model(cnn_onnx(tmp_path)[0])
    x = np.random.default_rng(5).normal(size=(20, 36))
    summary, _ = infer(model, x, InferConfig(fidelity="numeric", r_wire=2.0))
    errs = [layer["output_error"]["relative_rms"] for layer in summary["layers"]]
    assert all(0 < e < 0.05 for e in errs), errs


@pytest.mark.ngspice
def test_spice_agrees_with_numeric_on_a_small_cnn(tmp_path):
    """A 6x6 image, two 3x3 filters: every position of every sample is one read of the conv tile;
    ngspice and the nodal solver agree on every layer with wire resistance."""
    model = load_model(cnn_onnx(tmp_path)[0])
    x = np.random.default_rng(6).normal(size=(3, 36))
    _, num = infer(model, x, InferConfig(fidelity="numeric", r_wire=2.0))
    _, spi = infer(model, x, InferConfig(fidelity="spice", r_wire=2.0))
    for zn, zs in zip(num["circuit"], spi["circuit"]):
        np.testing.assert_allclose(zs, zn, rtol=1e-6, atol=1e-9)


def _bad_conv(tmp_path, kind):
    if kind == "operator":
        extra = [helper.make_node("LeakyRelu", ["y"], ["y2"], name="leaky")]
        path, _ = cnn_onnx(tmp_path, extra=extra, name=kind)
        m = onnx.load(str(path))
        m.graph.output[0].name = "y2"
        onnx.save(m, str(path))
        return path
    if kind == "channels":
        return cnn_onnx(tmp_path, conv_in=3, name=kind)[0]
    if kind == "pool":
        path, _ = cnn_onnx(tmp_path, name=kind)
        m = onnx.load(str(path))
        for a in m.graph.node[2].attribute:
            if a.name == "strides":
                a.ints[:] = [1, 1]
        onnx.save(m, str(path))
        return path
    return cnn_onnx(tmp_path, name=kind)[0]


@pytest.mark.parametrize(("kind", "message"), [
    ("operator", "unsupported operator LeakyRelu in node leaky"),
    ("channels", "node conv1 (Conv): shape mismatch: the weights take 3 channels but the input has 1"),
    ("pool", "node pool1 (MaxPool): 2x2 pooling with stride 1"),
    ("width", "wrong input width: "),
])
def test_bad_cnn_models_are_one_line_and_exit_2(tmp_path, kind, message):
    line = refused_in_one_line(tmp_path, _bad_conv(tmp_path, kind), 5 if kind == "width" else 36, message)
    if kind == "width":
        assert "5 values per sample" in line and "takes 36" in line


def test_cli_evaluates_an_onnx_cnn_on_digits_sized_inputs(tmp_path):
    path, (k, kb, w, b) = cnn_onnx(tmp_path, side=8, filters=3, classes=10)
    x = np.random.default_rng(7).normal(size=(30, 64))
    y = reference(x.reshape(30, 1, 8, 8), k, kb, w, b).argmax(axis=1)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    proc = memcircuit("infer", str(path), "--inputs", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"),
                      "--fidelity", "ideal", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["accuracy"] == 1.0 and out["changed_predictions"] == 0.0
