"""In-place Concat (runtime/optimize.cpp alias_concat_inputs): producers write straight into
their slice of the concat output. Results must match the onnx reference evaluator, including
the cases where an input may not be aliased (read elsewhere, a graph input or output, a
non-contiguous slice, nested concats)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from .onnx_helpers import reference, run_walle

rng = np.random.default_rng(21)


def _conv(name, x, cin, cout, k, out):
    w = numpy_helper.from_array(rng.standard_normal((cout, cin, k, k)).astype(np.float32), f"{name}_w")
    b = numpy_helper.from_array(rng.standard_normal(cout).astype(np.float32), f"{name}_b")
    node = helper.make_node("Conv", [x, w.name, b.name], [out], pads=[k // 2] * 4)
    return [node], [w, b]


def _model(batch: int, variant: str) -> onnx.ModelProto:
    nodes, inits = [], []
    for name, k, cout in [("e1", 1, 5), ("e3", 3, 7)]:
        n, i = _conv(name, "s", 4, cout, k, f"{name}_c")
        nodes += n + [helper.make_node("Relu", [f"{name}_c"], [name])]
        inits += i
    outputs = ["y"]
    if variant == "fire":
        nodes.append(helper.make_node("Concat", ["e1", "e3"], ["y"], axis=1))
    elif variant == "reused":  # e1 is read again after the concat: no alias for it
        nodes.append(helper.make_node("Concat", ["e1", "e3"], ["c"], axis=1))
        nodes.append(helper.make_node("ReduceSum", ["e1"], ["r"], keepdims=1))
        nodes.append(helper.make_node("Add", ["c", "r"], ["y"]))
    elif variant == "graph-input":  # the graph input s copied, the conv outputs aliased
        nodes.append(helper.make_node("Concat", ["e1", "s", "e3"], ["y"], axis=1))
    elif variant == "output-too":  # e3 is also a graph output
        nodes.append(helper.make_node("Concat", ["e1", "e3"], ["y"], axis=1))
        outputs.append("e3")
    elif variant == "nested":  # concat of a concat, then a conv reading the result
        nodes.append(helper.make_node("Concat", ["e1", "e3"], ["c"], axis=1))
        nodes.append(helper.make_node("Sigmoid", ["e1"], ["g"]))
        nodes.append(helper.make_node("Concat", ["g", "c"], ["d"], axis=1))
        n, i = _conv("post", "d", 17, 3, 3, "y")
        nodes += n
        inits += i
    elif variant == "axis3":  # width concat: the slices are not contiguous, plain copies
        n, i = _conv("e1b", "s", 4, 5, 1, "e1b")
        nodes += n
        inits += i
        nodes.append(helper.make_node("Concat", ["e1", "e1b"], ["y"], axis=3))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("s", TensorProto.FLOAT, [batch, 4, 6, 9])],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("variant", ["fire", "reused", "graph-input", "output-too", "nested", "axis3"])
def test_inplace_concat_matches_reference(variant, batch, threads, tmp_path):
    model = _model(batch, variant)
    x = rng.standard_normal((batch, 4, 6, 9)).astype(np.float32)
    got = run_walle(model, {"s": x}, tmp_path, threads=threads)
    want = reference(model, {"s": x})
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


def test_inplace_concat_drops_the_copy(tmp_path):
    """A fire module's concat runs no raster at all: both convs write into the output."""
    import walle

    model = _model(1, "fire")
    onnx.save(model, tmp_path / "m.onnx")
    walle.convert(tmp_path / "m.onnx", tmp_path / "m.walle")
    plan = walle.load(tmp_path / "m.walle").plan()
    assert [r["op"] for r in plan] == ["Conv", "Conv"]
