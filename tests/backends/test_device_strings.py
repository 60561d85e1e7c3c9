"""String tensors with a device backend: a string element is a host pointer, so every op that
touches a string runs on the CPU (saying why), while the float ops around it may run on the
device; the results equal the CPU backend's."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import walle
from onnx import TensorProto as TP
from onnx import helper

from .conftest import DEVICE_BACKENDS, backend_or_skip


def mixed_model(path) -> None:
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Cast", ["r"], ["text"], to=TP.STRING),
             helper.make_node("StringConcat", ["text", "unit"], ["labelled"]),
             helper.make_node("Transpose", ["labelled"], ["y"], perm=[1, 0]),
             helper.make_node("Equal", ["text", "unit"], ["same"]),
             helper.make_node("Add", ["r", "r"], ["z"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TP.FLOAT, [2, 3]),
                                           helper.make_tensor_value_info("unit", TP.STRING, [3])],
                              [helper.make_tensor_value_info("y", TP.STRING, [3, 2]),
                               helper.make_tensor_value_info("same", TP.BOOL, [2, 3]),
                               helper.make_tensor_value_info("z", TP.FLOAT, [2, 3])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), path / "m.onnx")
    walle.convert(path / "m.onnx", path / "m.walle")


@pytest.mark.parametrize("backend", DEVICE_BACKENDS + ["auto"])
def test_string_ops_stay_on_the_cpu(backend, tmp_path):
    if backend != "auto":
        backend_or_skip(backend)
    mixed_model(tmp_path)
    feed = {"x": np.array([[1.5, -2.0, 0.25], [3.0, 0.0, -1.0]], np.float32),
            "unit": np.array(["m", "0.0", "s"], dtype=object)}
    want = walle.load(tmp_path / "m.walle").run(feed)
    session = walle.load(tmp_path / "m.walle", backend=backend)
    got = session.run(feed)
    assert got["y"].dtype == object and got["y"].tolist() == want["y"].tolist()
    np.testing.assert_array_equal(got["same"], want["same"])
    np.testing.assert_allclose(got["z"], want["z"])
    plan = session.plan()
    if backend != "auto":
        assert any(row["backend"] == backend for row in plan)  # Relu and Add
    for row in plan:  # the model's only Raster is the Transpose of strings
        if row["op"] in ("Text", "Raster") or row["kernel"] == "string-equal":
            assert row["backend"] == "cpu", row
            if backend != "auto" and row["op"] == "Text":
                assert "string tensors stay on the CPU" in row["candidates"], row
