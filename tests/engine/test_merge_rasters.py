"""Raster of a raster (runtime/optimize.cpp merge_rasters): a copy that reads what another
single-region copy wrote reads that copy's source directly when the composed walk is still a
strided walk, and the first copy disappears. Results must match the onnx reference evaluator,
both where the merge happens (also by splitting a walk into whole rows) and where it must not
(rows of 3 read as rows of 5)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import walle
from onnx import TensorProto, helper, numpy_helper

from .onnx_helpers import reference, run_walle, with_output_types

rng = np.random.default_rng(31)


def _const(name: str, values) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values, np.int64), name)


def _model(variant: str) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """x goes through a first copy (Split / Slice), a reshape view and a second copy (Transpose)."""
    inits = []
    if variant == "head-split":  # BERT: qkv [128, 96] -> q [128, 32] -> [1, 128, 4, 8] -> [1, 4, 128, 8]
        x = rng.standard_normal((128, 96)).astype(np.float32)
        nodes = [helper.make_node("Split", ["x", "parts"], ["q", "k", "v"], axis=1),
                 helper.make_node("Reshape", ["k", "shape"], ["k4"]),
                 helper.make_node("Transpose", ["k4"], ["y"], perm=[0, 2, 3, 1])]
        inits = [_const("parts", [32, 32, 32]), _const("shape", [1, 128, 4, 8])]
    elif variant == "across-rows":  # a slice then a reshape across its rows: split into whole rows
        x = rng.standard_normal((4, 6)).astype(np.float32)
        nodes = [helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["s"]),
                 helper.make_node("Reshape", ["s", "shape"], ["r"]),
                 helper.make_node("Transpose", ["r"], ["y"], perm=[1, 0])]
        inits = [_const("starts", [1]), _const("ends", [5]), _const("axes", [1]), _const("shape", [2, 8])]
    elif variant == "ragged":  # rows of 3 reshaped to rows of 5: no strided walk, two copies stay
        x = rng.standard_normal((5, 7)).astype(np.float32)
        nodes = [helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["s"]),
                 helper.make_node("Reshape", ["s", "shape"], ["r"]),
                 helper.make_node("Transpose", ["r"], ["y"], perm=[1, 0])]
        inits = [_const("starts", [1]), _const("ends", [4]), _const("axes", [1]), _const("shape", [3, 5])]
    elif variant == "two-readers":  # the first copy is read twice: merged into both, still right
        x = rng.standard_normal((5, 8)).astype(np.float32)
        nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0]),
                 helper.make_node("Slice", ["t", "starts", "ends", "axes"], ["a"]),
                 helper.make_node("Neg", ["t"], ["y2"]),
                 helper.make_node("Add", ["a", "a"], ["y"])]
        inits = [_const("starts", [2]), _const("ends", [6]), _const("axes", [0])]
    else:  # "chain": transpose of a slice of a transpose, int64 elements
        x = rng.integers(-9, 9, (3, 10, 7)).astype(np.int64)
        nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[2, 0, 1]),
                 helper.make_node("Slice", ["t", "starts", "ends", "axes"], ["s"]),
                 helper.make_node("Transpose", ["s"], ["y"], perm=[1, 2, 0])]
        inits = [_const("starts", [1, 2]), _const("ends", [6, 9]), _const("axes", [0, 2])]
    dtype = helper.np_dtype_to_tensor_dtype(x.dtype)
    outputs = [helper.make_tensor_value_info(o, dtype, None) for o in (["y", "y2"] if variant == "two-readers" else ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", dtype, x.shape)], outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), {"x": x}


@pytest.mark.parametrize("variant", ["head-split", "across-rows", "ragged", "two-readers", "chain"])
def test_merged_rasters_match_reference(variant, tmp_path):
    model, feed = _model(variant)
    got = run_walle(model, feed, tmp_path)
    want = reference(model, feed)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("variant,rasters", [("head-split", 1), ("across-rows", 1), ("ragged", 2), ("chain", 1)])
def test_merge_leaves_one_copy(variant, rasters, tmp_path):
    """Split/Slice + Transpose run as one Raster where the walks compose; the ragged case keeps
    both copies."""
    model, _ = _model(variant)
    onnx.save(with_output_types(model), tmp_path / "m.onnx")
    walle.convert(tmp_path / "m.onnx", tmp_path / "m.walle")
    plan = walle.load(tmp_path / "m.walle").plan()
    assert [r["op"] for r in plan].count("Raster") == rasters, plan


def _random_chain(seed: int) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """Slice or Transpose, then a Reshape to another factorization, then a Transpose: shapes
    and cuts drawn at random, so that some walks compose, some split and some do not."""
    r = np.random.default_rng(seed)
    shape = [int(v) for v in r.integers(1, 7, r.integers(2, 5))]
    x = r.standard_normal(shape).astype(np.float32)
    inits, nodes = [], []
    if r.random() < 0.5:
        perm = [int(v) for v in r.permutation(len(shape))]
        nodes.append(helper.make_node("Transpose", ["x"], ["a"], perm=perm))
        mid = [shape[p] for p in perm]
    else:
        axis = int(r.integers(len(shape)))
        lo = int(r.integers(shape[axis]))
        hi = int(r.integers(lo + 1, shape[axis] + 1))
        nodes.append(helper.make_node("Slice", ["x", "st", "en", "ax"], ["a"]))
        inits += [_const("st", [lo]), _const("en", [hi]), _const("ax", [axis])]
        mid = list(shape)
        mid[axis] = hi - lo
    total = int(np.prod(mid))
    factors = [d for d in range(1, total + 1) if total % d == 0]
    first = int(r.choice(factors))
    new_shape = [first, total // first]
    nodes.append(helper.make_node("Reshape", ["a", "shape"], ["b"]))
    inits.append(_const("shape", new_shape))
    nodes.append(helper.make_node("Transpose", ["b"], ["y"], perm=[1, 0]))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), {"x": x}


@pytest.mark.parametrize("seed", range(40))
def test_random_chains_match_reference(seed, tmp_path):
    model, feed = _random_chain(seed)
    np.testing.assert_array_equal(run_walle(model, feed, tmp_path)[0], reference(model, feed)[0])
