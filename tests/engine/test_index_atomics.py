"""The Scatter and TopK atomic ops (reference CPU kernels), through the composite ops that
decompose into them, for every dtype they serve, on awkward shapes (1, 7, 17), duplicates,
negative indices and ties, against the onnx package's reference evaluator."""

from __future__ import annotations

import numpy as np
import pytest
import walle

from .onnx_helpers import node_model, reference, run_walle

rng = np.random.default_rng(11)
DTYPES = [np.float32, np.float64, np.float16, np.int64, np.int32, np.int8, np.uint8]


def data(shape, dtype):
    if np.issubdtype(dtype, np.integer):
        return rng.integers(0, 50, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def check(model, inputs, tmp_path):
    got, want = run_walle(model, inputs, tmp_path), reference(model, inputs)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
def test_scatter_nd(dtype, reduction, tmp_path):
    x = data((7, 17), dtype)
    # duplicates only where the reduction makes them well defined
    rows = [[3], [-1], [0], [3]] if reduction != "none" else [[3], [-1], [0]]
    idx = np.array(rows, np.int64)
    upd = data((len(rows), 17), dtype)
    model = node_model("ScatterND", {"x": x, "i": idx, "u": upd}, opset=18, reduction=reduction)
    check(model, {"x": x, "i": idx, "u": upd}, tmp_path)


@pytest.mark.parametrize("dtype", DTYPES)
def test_scatter_elements(dtype, tmp_path):
    x = data((1, 7, 5), dtype)
    idx = rng.integers(-7, 7, (1, 3, 5)).astype(np.int64)
    upd = data((1, 3, 5), dtype)
    model = node_model("ScatterElements", {"x": x, "i": idx, "u": upd}, opset=18, axis=1, reduction="add")
    check(model, {"x": x, "i": idx, "u": upd}, tmp_path)


def test_scatter_out_of_range_is_an_error(tmp_path):
    x = np.zeros((4, 2), np.float32)
    idx, upd = np.array([[4]], np.int64), np.ones((1, 2), np.float32)
    model = node_model("ScatterND", {"x": x, "i": idx, "u": upd}, opset=18)
    with pytest.raises(walle.Error, match="out of range"):
        run_walle(model, {"x": x, "i": idx, "u": upd}, tmp_path)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("largest", [1, 0])
@pytest.mark.parametrize("shape,axis,k", [((17,), 0, 7), ((3, 7, 2), 1, 1), ((1, 5), -1, 5)])
def test_topk(dtype, largest, shape, axis, k, tmp_path):
    x = data(shape, dtype)
    if np.issubdtype(dtype, np.integer):
        x = (x % 4).astype(dtype)  # many ties: lower index first
    model = node_model("TopK", {"x": x}, n_outputs=2, constants={"k": np.array([k], np.int64)}, opset=11,
                       axis=axis, largest=largest)
    check(model, {"x": x}, tmp_path)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_random_uniform_like_matches_numpy(dtype, tmp_path):
    x = np.zeros((3, 7), dtype)
    model = node_model("RandomUniformLike", {"x": x}, opset=22, seed=5.0, low=-1.0, high=3.0)
    (got,) = run_walle(model, {"x": x}, tmp_path)
    want = (np.random.RandomState(5).rand(3, 7).astype(dtype) * dtype(4.0) + dtype(-1.0)).astype(dtype)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=1e-3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bernoulli_matches_numpy_binomial(dtype, tmp_path):
    p = np.array([0.0, 0.2, 0.7, 0.5, 1.0, 0.9, 0.1, 0.6, 0.3, 0.8, 0.4, 0.05] * 3, dtype)
    model = node_model("Bernoulli", {"p": p}, opset=22, seed=0.0)
    (got,) = run_walle(model, {"p": p}, tmp_path)
    np.testing.assert_array_equal(got, np.random.RandomState(0).binomial(1, p).astype(dtype))
