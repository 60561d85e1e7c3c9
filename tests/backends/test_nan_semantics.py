"""NaN and infinities through the elementwise kernels (issue 24): Relu, Sign, Max, Min, Clip,
HardSigmoid and the comparisons give what onnxruntime gives (NaN in, NaN out; every
comparison with NaN false), on every backend, alone and fused into a MatMul's epilogue."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import walle
from onnx import TensorProto, helper, numpy_helper

from .conftest import DEVICE_BACKENDS, backend_or_skip

BACKENDS = ["cpu", "cpu-reference", *DEVICE_BACKENDS]
SPECIAL = np.array([np.nan, -np.inf, np.inf, -1.0, -0.0, 0.0, 1.0, -0.5, 2.5, np.nan], np.float32)
# Long enough for the vector loops (16 lanes and a tail), specials at every lane position.
X = np.resize(SPECIAL, 67).astype(np.float32)
Y = np.roll(X, 3)

UNARY = [("Relu", {}), ("Sign", {}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}), ("LeakyRelu", {"alpha": 0.1})]
BINARY = ["Max", "Min", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"]


def _model(nodes, inputs, outputs, initializers=()) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _vec(name, elem=TensorProto.FLOAT, n=67):
    return helper.make_tensor_value_info(name, elem, [n])


def _cases():
    for op, attrs in UNARY:
        yield op, _model([helper.make_node(op, ["x"], ["z"], **attrs)], [_vec("x")], [_vec("z")]), {"x": X}
    for op in BINARY:
        out = TensorProto.FLOAT if op in ("Max", "Min") else TensorProto.BOOL
        yield op, _model([helper.make_node(op, ["x", "y"], ["z"])], [_vec("x"), _vec("y")], [_vec("z", out)]), {"x": X, "y": Y}
    # Clip with bounds as inputs (opset 11+), and with NaN bounds left out
    bounds = [numpy_helper.from_array(np.float32(-0.75), "lo"), numpy_helper.from_array(np.float32(1.5), "hi")]
    yield "Clip", _model([helper.make_node("Clip", ["x", "lo", "hi"], ["z"])], [_vec("x")], [_vec("z")], bounds), {"x": X}
    # MatMul -> Relu / Clip: the activation runs in the GEMM's epilogue
    w = numpy_helper.from_array(np.eye(67, dtype=np.float32)[:, :5], "w")
    mat = helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 67])
    for act in ("Relu", "Clip"):
        extra = ["lo", "hi"] if act == "Clip" else []
        yield f"MatMul+{act}", _model([helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node(act, ["m", *extra], ["z"])],
                                      [mat], [helper.make_tensor_value_info("z", TensorProto.FLOAT, [3, 5])],
                                      [w, *(bounds if extra else [])]), {"x": np.stack([X, Y, X[::-1].copy()])}


CASES = list(_cases())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_nan_semantics_match_onnxruntime(case, backend, tmp_path):
    if backend not in ("cpu", "cpu-reference"):
        backend_or_skip(backend)
    ort = pytest.importorskip("onnxruntime")
    _, model, feed = case
    src, dst = tmp_path / "m.onnx", tmp_path / "m.walle"
    onnx.save(model, src)
    walle.convert(src, dst)
    got = walle.load(dst, backend=backend).run(feed)["z"]
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # the ops as written
    want = ort.InferenceSession(str(src), options, providers=["CPUExecutionProvider"]).run(None, feed)[0]
    assert got.dtype == want.dtype
    # equal_nan: NaN where onnxruntime has NaN, and nowhere else
    np.testing.assert_array_equal(got, want, err_msg=f"{case[0]} on {backend}; input {feed}")


def test_relu_and_sign_of_nan_are_nan_on_the_reference_kernels(tmp_path):
    """The plain statement of the bug: Relu(NaN) and Sign(NaN) were 0."""
    for op in ("Relu", "Sign"):
        src = tmp_path / f"{op}.onnx"
        onnx.save(_model([helper.make_node(op, ["x"], ["z"])], [_vec("x", n=1)], [_vec("z", n=1)]), src)
        walle.convert(src, tmp_path / f"{op}.walle")
        for backend in ("cpu", "cpu-reference"):
            z = walle.load(tmp_path / f"{op}.walle", backend=backend).run({"x": np.array([np.nan], np.float32)})["z"]
            assert np.isnan(z).all(), (op, backend, z)
