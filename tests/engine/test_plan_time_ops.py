"""Regressions and plan-time behaviour added with the conformance work: 0-d initializers keep
their shape; ops whose output shape depends on data (NonZero, Unique, Compress) plan with
the model input's value and re-plan when it changes."""

from __future__ import annotations

import numpy as np

from .onnx_helpers import node_model, reference, run_walle


def test_scalar_initializer_stays_0d(tmp_path):
    x = np.array(np.float32(1.5))
    model = node_model("Min", {"x": x}, constants={"c": np.float32(0.25)}, opset=11)
    (y,) = run_walle(model, {"x": x}, tmp_path)
    assert y.shape == () and y == np.float32(0.25)


def test_nonzero_follows_the_input_value(tmp_path):
    import onnx
    import walle

    from .onnx_helpers import with_output_types

    x = np.array([[1, 0, 2], [0, 0, 3]], np.int64)
    model = node_model("NonZero", {"x": x}, opset=13)
    onnx.save(with_output_types(model), tmp_path / "m.onnx")
    walle.convert(tmp_path / "m.onnx", tmp_path / "m.walle")
    session = walle.load(tmp_path / "m.walle")
    for value in (x, np.zeros_like(x), np.ones_like(x)):
        (got,) = session.run({"x": value}).values()
        np.testing.assert_array_equal(got, np.array(np.nonzero(value)))


def test_unique_sorted_with_axis(tmp_path):
    x = np.array([[1, 0, 0], [1, 0, 0], [2, 3, 4]], np.float32)
    model = node_model("Unique", {"x": x}, n_outputs=4, opset=11, axis=0, sorted=1)
    for got, want in zip(run_walle(model, {"x": x}, tmp_path), reference(model, {"x": x}), strict=True):
        np.testing.assert_array_equal(got, want)


def test_sequence_map_between_tensor_inputs_and_outputs(tmp_path):
    """SequenceMap's body runs once per element (plan-time unrolling); sequences stay inside."""
    from onnx import TensorProto, helper

    body = helper.make_graph([helper.make_node("Mul", ["e", "e"], ["o"])], "square",
                             [helper.make_tensor_value_info("e", TensorProto.FLOAT, None)],
                             [helper.make_tensor_value_info("o", TensorProto.FLOAT, None)])
    nodes = [helper.make_node("SequenceConstruct", ["a", "b"], ["s"]),
             helper.make_node("SequenceMap", ["s"], ["t"], body=body),
             helper.make_node("ConcatFromSequence", ["t"], ["y"], axis=0)]
    graph = helper.make_graph(nodes, "m", [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2]) for n in "ab"],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    a, b = np.array([1, 2], np.float32), np.array([3, -4], np.float32)
    (y,) = run_walle(model, {"a": a, "b": b}, tmp_path)
    np.testing.assert_array_equal(y, np.concatenate([a * a, b * b]))


def test_random_uniform_seeded_matches_numpy(tmp_path):
    from onnx import TensorProto, helper

    node = helper.make_node("RandomUniform", [], ["y"], shape=[2, 5], seed=3.0, low=2.0, high=4.0,
                            dtype=TensorProto.DOUBLE)
    graph = helper.make_graph([node], "m", [], [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [2, 5])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    (y,) = run_walle(model, {}, tmp_path)
    np.testing.assert_allclose(y, np.random.RandomState(3).rand(2, 5) * 2.0 + 2.0)
