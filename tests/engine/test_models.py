"""The issue's model set: converted and run, every output within 1e-4 relative / 1e-5
absolute of onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest
import walle
from walle.models import MODEL_NAMES

ort = pytest.importorskip("onnxruntime")


def _onnxruntime(path: str, inputs: dict) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"]).run(None, inputs)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_matches_onnxruntime(name, exported_model, tmp_path):
    onnx_path, inputs = exported_model(name)
    walle_path = tmp_path / f"{name}.walle"
    report = walle.convert(onnx_path, walle_path)
    assert report.nodes_out > 0
    expected = _onnxruntime(onnx_path, inputs)
    for threads in (1, 2):
        session = walle.load(walle_path, threads=threads)
        got = list(session.run(inputs).values())
        assert len(got) == len(expected)
        for g, e in zip(got, expected, strict=True):
            assert g.shape == e.shape and g.dtype == e.dtype
            np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5, err_msg=f"{name}, {threads} threads")


@pytest.mark.parametrize("name", ["squeezenet1_1", "din"])
def test_reference_backend_matches_onnxruntime(name, exported_model, tmp_path):
    """The portable reference kernels alone give the same answers (smaller models: they are slow)."""
    onnx_path, inputs = exported_model(name)
    walle.convert(onnx_path, tmp_path / "m.walle")
    got = walle.load(tmp_path / "m.walle", backend="cpu-reference").run(inputs)["output"]
    np.testing.assert_allclose(got, _onnxruntime(onnx_path, inputs)[0], rtol=1e-4, atol=1e-5)


def test_conv_batchnorm_folding(tmp_path):
    """Conv followed by BatchNormalization (as exported in training mode) folds into one Conv."""
    import onnx
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = {"w": rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "s": rng.random(4).astype(np.float32) + 0.5,
             "b": rng.standard_normal(4).astype(np.float32), "m": rng.standard_normal(4).astype(np.float32),
             "v": rng.random(4).astype(np.float32) + 0.5}
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
         helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["y"], epsilon=1e-3)],
        "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4, 8, 8])],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    report = walle.convert(tmp_path / "m.onnx", tmp_path / "m.walle")
    assert report.batchnorms_fused == 1 and report.op_counts == {"Conv": 1}
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(walle.load(tmp_path / "m.walle").run({"x": x})["y"],
                               _onnxruntime(str(tmp_path / "m.onnx"), {"x": x})[0], rtol=1e-4, atol=1e-5)
