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
    import walle

    from .onnx_helpers import with_output_types
    import onnx

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
