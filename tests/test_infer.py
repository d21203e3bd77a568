"""``memcircuit infer``: trained networks (.npz, ONNX) evaluated through tiles against software."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_cli_foundation import memcircuit

from memcircuit.errors import ConfigError
from memcircuit.infer import InferConfig, infer, load_model
from memcircuit.train.datasets import load_dataset
from memcircuit.train.model import DenseModel

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _tensor(name: str, arr: np.ndarray):
    return numpy_helper.from_array(np.asarray(arr, dtype=np.float32), name)


def _save(tmp_path, name: str, nodes, inits, n_in: int, out: str, n_out: int, *, in_shape=None):
    shape = in_shape if in_shape is not None else ["N", n_in]
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", n_out])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


def _weights(sizes, seed: int, scales=None):
    rng = np.random.default_rng(seed)
    scales = scales or [1.0] * (len(sizes) - 1)
    ws = [rng.normal(0, s / np.sqrt(a), (a, b)) for a, b, s in zip(sizes[:-1], sizes[1:], scales)]
    bs = [rng.normal(0, 0.3 * s, b) for b, s in zip(sizes[1:], scales)]
    return ws, bs


def gemm_mlp(tmp_path, sizes=(4, 10, 6, 3), seed=0, scales=(8.0, 0.05, 1.0)):
    """PyTorch-style export: Gemm with transB = 1 (weights stored out x in), Relu then Tanh hidden
    layers, logits out; layers of very different weight magnitudes."""
    ws, bs = _weights(list(sizes), seed, list(scales))
    nodes, inits, cur = [], [], "x"
    acts = ["Relu", "Tanh"]
    for k, (w, b) in enumerate(zip(ws, bs)):
        inits += [_tensor(f"fc{k}.weight", w.T), _tensor(f"fc{k}.bias", b)]
        nodes.append(helper.make_node("Gemm", [cur, f"fc{k}.weight", f"fc{k}.bias"], [f"z{k}"], name=f"fc{k}",
                                      transB=1))
        cur = f"z{k}"
        if k < len(ws) - 1:
            nodes.append(helper.make_node(acts[k], [cur], [f"a{k}"], name=f"act{k}"))
            cur = f"a{k}"
    path = _save(tmp_path, "gemm_mlp", nodes, inits, sizes[0], cur, sizes[-1])
    f32 = [w.astype(np.float32).astype(float) for w in ws], [b.astype(np.float32).astype(float) for b in bs]
    return path, f32, ["relu", "tanh", "identity"]


def matmul_mlp(tmp_path, sizes=(4, 7, 3), seed=1, image=False):
    """Keras-style export: Flatten, MatMul + Add, Sigmoid, Dropout, Softmax at the end."""
    ws, bs = _weights(list(sizes), seed)
    nodes = [helper.make_node("Flatten", ["x"], ["flat"], name="flatten", axis=1)]
    inits, cur = [], "flat"
    for k, (w, b) in enumerate(zip(ws, bs)):
        inits += [_tensor(f"W{k}", w), _tensor(f"b{k}", b)]
        nodes += [helper.make_node("MatMul", [cur, f"W{k}"], [f"m{k}"], name=f"dense{k}/MatMul"),
                  helper.make_node("Add", [f"b{k}", f"m{k}"], [f"z{k}"], name=f"dense{k}/Add")]
        cur = f"z{k}"
        if k < len(ws) - 1:
            nodes += [helper.make_node("Sigmoid", [cur], [f"a{k}"], name=f"sigmoid{k}"),
                      helper.make_node("Dropout", [f"a{k}"], [f"d{k}"], name=f"dropout{k}")]
            cur = f"d{k}"
    nodes.append(helper.make_node("Softmax", [cur], ["probs"], name="softmax", axis=-1))
    shape = ["N", 2, sizes[0] // 2] if image else None
    path = _save(tmp_path, "matmul_mlp", nodes, inits, sizes[0], "probs", sizes[-1], in_shape=shape)
    return path, ([w.astype(np.float32).astype(float) for w in ws], [b.astype(np.float32) for b in bs])


def _numpy_forward(ws, bs, acts, x):
    f = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh, "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
         "identity": lambda z: z}
    a = x
    for w, b, kind in zip(ws, bs, acts):
        a = f[kind](a @ w + b)
    return a


@pytest.fixture(scope="module")
def iris():
    return load_dataset("iris", seed=0)


# -- import ------------------------------------------------------------------------------------
def test_onnx_gemm_and_matmul_import_match_numpy(tmp_path, iris):
    path, (ws, bs), acts = gemm_mlp(tmp_path)
    model = load_model(path)
    assert model.sizes == [4, 10, 6, 3] and model.activations == ("relu", "tanh", "identity")
    np.testing.assert_allclose(model.forward(iris.x_test)[-1], _numpy_forward(ws, bs, acts, iris.x_test), rtol=1e-12)
    path, (ws, bs) = matmul_mlp(tmp_path, image=True)
    model = load_model(path)
    assert model.sizes == [4, 7, 3] and model.activations == ("sigmoid", "softmax")
    z = _numpy_forward(ws, bs, ["sigmoid", "identity"], iris.x_test)
    np.testing.assert_allclose(model.forward(iris.x_test)[-1], z, rtol=1e-12)


def test_onnx_constant_reshape_and_gemm_scales(tmp_path, iris):
    """Reshape to batch x features with its shape from a Constant node; Gemm's alpha and beta."""
    w, b = np.arange(12.0).reshape(4, 3) / 10, np.array([0.5, -1.0, 2.0])
    nodes = [helper.make_node("Constant", [], ["shape"], name="shape",
                              value=numpy_helper.from_array(np.array([-1, 4], dtype=np.int64))),
             helper.make_node("Reshape", ["x", "shape"], ["flat"], name="view"),
             helper.make_node("Identity", ["flat"], ["same"], name="identity"),
             helper.make_node("Gemm", ["same", "W", "b"], ["y"], name="fc", alpha=2.0, beta=0.5)]
    path = _save(tmp_path, "reshape", nodes, [_tensor("W", w), _tensor("b", b)], 4, "y", 3, in_shape=["N", 2, 2])
    model = load_model(path)
    assert model.activations == ("identity",)
    np.testing.assert_allclose(model.forward(iris.x_test)[0], 2.0 * iris.x_test @ w + 0.5 * b, rtol=1e-6)


def test_onnx_classifier_label_branch_is_not_evaluated(tmp_path, iris):
    """scikit-learn-style export: probabilities plus an integer label (ArgMax, Cast) output."""
    path, (ws, bs) = matmul_mlp(tmp_path)
    m = onnx.load(str(path))
    m.graph.node.extend([helper.make_node("ArgMax", ["probs"], ["arg"], name="argmax", axis=1, keepdims=0),
                         helper.make_node("Cast", ["arg"], ["label"], name="cast", to=TensorProto.INT64)])
    m.graph.output.insert(0, helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]))
    onnx.save(m, str(tmp_path / "labels.onnx"))
    model = load_model(tmp_path / "labels.onnx")
    assert model.sizes == [4, 7, 3] and model.activations[-1] == "softmax"
    m.graph.output.append(helper.make_tensor_value_info("z0", TensorProto.FLOAT, ["N", 7]))
    onnx.save(m, str(tmp_path / "two.onnx"))
    with pytest.raises(ConfigError, match="exactly one float tensor output"):
        load_model(tmp_path / "two.onnx")


def test_npz_round_trip_and_layout_errors(tmp_path):
    ws, bs = _weights([3, 5, 2], 3)
    model = DenseModel(tuple(ws), tuple(bs), ("tanh", "softmax"))
    back = DenseModel.load_npz(model.save_npz(tmp_path / "m.npz"))
    assert back.activations == ("tanh", "softmax") and all(np.array_equal(a, b) for a, b in zip(ws, back.weights))
    np.savez(tmp_path / "one.npz", W0=ws[0], W1=ws[1], activation=np.array("relu"))   # one name, no biases
    one = DenseModel.load_npz(tmp_path / "one.npz")
    assert one.activations == ("relu", "softmax") and not np.any(one.biases[1])
    np.savez(tmp_path / "bad.npz", W0=ws[0], W1=ws[0])
    with pytest.raises(ConfigError, match="layer 1 takes 3 inputs but layer 0 gives 5 outputs"):
        DenseModel.load_npz(tmp_path / "bad.npz")
    np.savez(tmp_path / "none.npz", weights=ws[0])
    with pytest.raises(ConfigError, match="no weight matrices W0"):
        DenseModel.load_npz(tmp_path / "none.npz")


# -- ideal reproduces software -----------------------------------------------------------------
@pytest.mark.parametrize("variant", ["gemm", "matmul"])
def test_ideal_reproduces_software_predictions_exactly(tmp_path, iris, variant):
    path = gemm_mlp(tmp_path)[0] if variant == "gemm" else matmul_mlp(tmp_path)[0]
    model = load_model(path)
    x = np.concatenate([iris.x_train, iris.x_test])
    summary, out = infer(model, x, InferConfig(fidelity="ideal", tile_rows=4, tile_cols=6))  # several tiles
    expect = model.output(model.forward(x)[-1]).argmax(axis=1)
    np.testing.assert_array_equal(summary["predictions"], expect)
    assert summary["changed_predictions"] == 0.0
    for zs, zh in zip(out["software"], out["circuit"]):
        np.testing.assert_allclose(zh, zs, rtol=1e-9, atol=1e-9 * np.abs(zs).max())


def test_sklearn_mlp_as_npz_reproduced_at_ideal(tmp_path):
    from sklearn.neural_network import MLPClassifier

    d = load_dataset("digits", seed=0)
    clf = MLPClassifier(hidden_layer_sizes=(24,), activation="relu", max_iter=300, random_state=0)
    clf.fit(d.x_train, d.y_train)
    np.savez(tmp_path / "sk.npz", W0=clf.coefs_[0], b0=clf.intercepts_[0], W1=clf.coefs_[1], b1=clf.intercepts_[1],
             activation=np.array(["relu", "softmax"]))
    proc = memcircuit("infer", str(tmp_path / "sk.npz"), "--dataset", "digits", "--fidelity", "ideal",
                      "--tile-size", "32x32", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    np.testing.assert_array_equal(summary["predictions"], clf.predict(d.x_test))
    assert summary["accuracy"] == summary["software_accuracy"] == pytest.approx(clf.score(d.x_test, d.y_test))
    assert summary["changed_predictions"] == 0.0 and summary["options"]["tile_rows"] == 32


def test_train_writes_network_npz_that_infer_reads(tmp_path):
    from memcircuit.train.loop import TrainConfig, Trainer

    cfg = TrainConfig(dataset="iris", layers=(4, 6, 3), epochs=1, batch=16, activation="tanh")
    trainer = Trainer(cfg, tmp_path / "run")
    try:
        summary = trainer.run()
        held = trainer.net.weights()
    finally:
        trainer.close()
    model = load_model(tmp_path / "run" / "network.npz")
    assert model.activations == ("tanh", "softmax")
    for w, b, h in zip(model.weights, model.biases, held):
        np.testing.assert_array_equal(np.vstack([w, b]), h)
    res, _ = infer(model, trainer.data.x_test, InferConfig(fidelity="ideal"), trainer.data.y_test)
    assert res["accuracy"] == res["software_accuracy"] == summary["final_test_acc"]


# -- circuit effects -----------------------------------------------------------------------------
def test_numeric_with_wires_reports_its_error(tmp_path, iris):
    model = load_model(gemm_mlp(tmp_path)[0])
    summary, _ = infer(model, iris.x_test, InferConfig(fidelity="numeric", r_wire=5.0), iris.y_test)
    errs = [layer["output_error"] for layer in summary["layers"]]
    assert all(0 < e["rms"] < np.inf and 0 < e["relative_rms"] < 0.2 for e in errs)
    assert summary["layers"][0]["w_max"] > 50 * summary["layers"][1]["w_max"]   # per-layer scaling
    assert 0 <= summary["changed_predictions"] < 0.5
    assert summary["options"]["r_wire"] == 5.0 and summary["fidelity"] == "numeric"


def test_open_loop_placement_programs_pulses_and_verify_rounds_help(tmp_path, iris):
    model = load_model(matmul_mlp(tmp_path)[0])
    base = dict(fidelity="numeric", placement="open-loop", variation=0.05, device_options={"sigma_c2c": 0.005})
    open_loop, _ = infer(model, iris.x_test, InferConfig(**base))
    verified, _ = infer(model, iris.x_test, InferConfig(**base, verify_rounds=2))
    assert open_loop["programming"]["device_pulses"] > 0
    w_open = max(layer["weight_error"]["rms"] for layer in open_loop["layers"])
    w_verified = max(layer["weight_error"]["rms"] for layer in verified["layers"])
    assert w_open > 0.005 and w_verified < w_open
    again, _ = infer(model, iris.x_test, InferConfig(**base))          # seeded: the same numbers
    assert again["layers"][0]["weight_error"] == open_loop["layers"][0]["weight_error"]


@pytest.mark.ngspice
def test_spice_agrees_with_numeric_on_a_tiny_model(tmp_path, iris):
    model = load_model(matmul_mlp(tmp_path, sizes=(4, 3, 3), seed=5)[0])
    x = iris.x_test[:6]
    _, num = infer(model, x, InferConfig(fidelity="numeric", r_wire=2.0))
    _, spi = infer(model, x, InferConfig(fidelity="spice", r_wire=2.0))
    for zn, zs in zip(num["circuit"], spi["circuit"]):
        np.testing.assert_allclose(zs, zn, rtol=1e-6, atol=1e-9)


def test_cli_writes_json_and_figure(tmp_path, iris):
    path = gemm_mlp(tmp_path)[0]
    np.save(tmp_path / "x.npy", iris.x_test)
    np.save(tmp_path / "y.npy", iris.y_test)
    proc = memcircuit("infer", str(path), "--inputs", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"),
                      "--r-wire", "1", "--json", str(tmp_path / "o.json"), "--plot", str(tmp_path / "o.png"))
    assert proc.returncode == 0, proc.stderr
    out = json.loads((tmp_path / "o.json").read_text())
    assert out["samples"] == len(iris.y_test) and out["software_accuracy"] is not None
    assert (tmp_path / "o.png").stat().st_size > 1000
    assert "predictions changed" in proc.stderr


# -- bad models: one line, exit 2 ----------------------------------------------------------------
def _bad(tmp_path, kind: str):
    w = _tensor("W", np.ones((4, 3)))
    if kind == "operator":
        nodes = [helper.make_node("MatMul", ["x", "W"], ["m"], name="dense"),
                 helper.make_node("LeakyRelu", ["m"], ["y"], name="leaky")]
        return _save(tmp_path, kind, nodes, [w], 4, "y", 3)
    if kind == "conv":
        k = _tensor("K", np.ones((2, 1, 3, 3)))
        nodes = [helper.make_node("Conv", ["x", "K"], ["y"], name="conv1")]
        graph = helper.make_graph(nodes, kind, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 5, 5])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [k])
        path = tmp_path / "conv.onnx"
        onnx.save(helper.make_model(graph), str(path))
        return path
    if kind == "shape":
        nodes = [helper.make_node("Gemm", ["x", "W", "b"], ["y"], name="fc", transB=1)]   # (4, 3) as out x in
        return _save(tmp_path, kind, nodes, [w, _tensor("b", np.zeros(4))], 4, "y", 4)
    nodes = [helper.make_node("Gemm", ["x", "W"], ["y"], name="fc")]
    return _save(tmp_path, kind, nodes, [w], 4, "y", 3)


@pytest.mark.parametrize(("kind", "message"), [
    ("operator", "unsupported operator LeakyRelu in node leaky"),
    ("conv", "a convolutional network must end in a dense layer"),
    ("shape", "node fc (Gemm): shape mismatch: the weight matrix takes 3 inputs but its input has 4 values"),
    ("width", "wrong input width: "),
])
def test_bad_models_are_one_line_and_exit_2(tmp_path, kind, message):
    line = refused_in_one_line(tmp_path, _bad(tmp_path, kind), 5, message)
    if kind == "width":
        assert "5 values per sample" in line and "takes 4" in line


def refused_in_one_line(tmp_path, path, width: int, message: str) -> str:
    """``infer`` of model ``path`` on inputs of ``width`` values exits 2 with one line holding ``message``."""
    np.save(tmp_path / "x.npy", np.ones((3, width)))
    proc = memcircuit("infer", str(path), "--inputs", str(tmp_path / "x.npy"), "--fidelity", "ideal")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    return lines[0]


def test_bad_data_options_are_one_line(tmp_path):
    path = gemm_mlp(tmp_path)[0]
    for args, message in ((("--fidelity", "ideal"), "give either --dataset NAME or --inputs X.npy"),
                          (("--dataset", "iris", "--labels", "y.npy"), "--labels goes with --inputs")):
        proc = memcircuit("infer", str(path), *args)
        assert proc.returncode == 2 and proc.stderr.strip() == f"error: {message}", proc.stderr
    proc = memcircuit("infer", str(path), "--dataset", "iris", "--json", str(tmp_path))
    assert proc.returncode == 2 and "--json" in proc.stderr and "is a directory" in proc.stderr
    (tmp_path / "m.txt").write_text("x")
    proc = memcircuit("infer", str(tmp_path / "m.txt"), "--dataset", "iris")
    assert proc.returncode == 2 and "model files are .npz or .onnx" in proc.stderr
