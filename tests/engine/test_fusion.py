"""Pattern fusion (csrc/runtime/fuse_patterns.cpp) and epilogue fusion: the optimized CPU
backend must claim the patterns (fewer ops, fused kernels in the plan) and still agree with the
cpu-reference backend, which runs the plain atomic decomposition."""

from __future__ import annotations

import numpy as np
import onnx
import walle
from onnx import helper, numpy_helper

rng = np.random.default_rng(11)


def _model(nodes, inputs, consts, outputs):
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(k, onnx.TensorProto.FLOAT, v.shape) for k, v in inputs.items()],
        [helper.make_tensor_value_info(o, onnx.TensorProto.FLOAT, None) for o in outputs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _sessions(model, tmp_path):
    src, dst = tmp_path / "m.onnx", tmp_path / "m.walle"
    onnx.save(model, src)
    walle.convert(src, dst)
    return walle.load(dst), walle.load(dst, backend="cpu-reference")


def _encoder_block():
    """MatMul + bias -> erf GELU -> MatMul + bias + residual -> LayerNorm, and a masked softmax."""
    h, f = 24, 40
    f32 = np.float32
    consts = {
        "w1": rng.standard_normal((h, f)).astype(f32), "b1": rng.standard_normal(f).astype(f32),
        "w2": rng.standard_normal((f, h)).astype(f32), "b2": rng.standard_normal(h).astype(f32),
        "sqrt2": np.array(np.sqrt(2.0), f32), "one": np.array(1.0, f32), "half": np.array(0.5, f32),
        "gamma": rng.standard_normal(h).astype(f32), "beta": rng.standard_normal(h).astype(f32),
        "neg": np.array(-3.4028235e38, f32),
    }
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["m1"]), helper.make_node("Add", ["m1", "b1"], ["a1"]),
        helper.make_node("Div", ["a1", "sqrt2"], ["d"]), helper.make_node("Erf", ["d"], ["e"]),
        helper.make_node("Add", ["e", "one"], ["e1"]), helper.make_node("Mul", ["a1", "e1"], ["g0"]),
        helper.make_node("Mul", ["g0", "half"], ["g"]),
        helper.make_node("MatMul", ["g", "w2"], ["m2"]), helper.make_node("Add", ["m2", "b2"], ["a2"]),
        helper.make_node("Add", ["x", "a2"], ["r"]),
        helper.make_node("LayerNormalization", ["r", "gamma", "beta"], ["y"], epsilon=1e-5),
        helper.make_node("Where", ["mask", "s", "neg"], ["sm"]),
        helper.make_node("Softmax", ["sm"], ["p"], axis=-1),
    ]
    inputs = {"x": rng.standard_normal((3, 7, h)).astype(f32), "s": (rng.standard_normal((3, 7, 19)) * 20).astype(f32)}
    mask = rng.random((3, 1, 19)) > 0.4
    graph_inputs = dict(inputs)
    model = _model(nodes, graph_inputs, consts, ["y", "p"])
    model.graph.input.append(helper.make_tensor_value_info("mask", onnx.TensorProto.BOOL, mask.shape))
    return model, {**inputs, "mask": mask}


def test_encoder_patterns_fuse_and_match_reference(tmp_path):
    model, feed = _encoder_block()
    fast, ref = _sessions(model, tmp_path)
    got, want = fast.run(feed), ref.run(feed)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-5)
    kernels = [row["kernel"] for row in fast.plan()]
    if walle._walle.detected_isa() == "reference":
        return
    assert any(k.startswith("f32-masked-softmax") for k in kernels), kernels  # the Where went into it
    assert any(k.startswith("f32-layernorm") for k in kernels), kernels
    ops = [row["op"] for row in fast.plan()]
    # GELU went into the first MatMul's epilogue, bias and residual into the second's.
    assert ops.count("Unary") == 0 and ops.count("MatMul") == 2, ops
    assert len(ops) < len(ref.plan())


def _attention_scores(scale_op: str, scale: float, mask_shape: tuple, heads: int = 2):
    """Softmax(Where(mask, (q @ k^T) <scale_op> scale, -inf)), as exported attention computes it."""
    f32 = np.float32
    b, s, d = 2, 24, 8
    nodes = [
        helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
        helper.make_node("MatMul", ["q", "kt"], ["qk"]),
        helper.make_node(scale_op, ["qk", "scale"], ["scaled"]),
        helper.make_node("Where", ["mask", "scaled", "neg"], ["masked"]),
        helper.make_node("Softmax", ["masked"], ["p"], axis=-1),
    ]
    feed = {"q": rng.standard_normal((b, heads, s, d)).astype(f32), "k": rng.standard_normal((b, heads, s, d)).astype(f32)}
    model = _model(nodes, feed, {"scale": np.array(scale, f32), "neg": np.array(-np.inf, f32)}, ["p"])
    model.graph.input.append(helper.make_tensor_value_info("mask", onnx.TensorProto.BOOL, mask_shape))
    mask = rng.random(mask_shape) > 0.3
    mask[..., 0] = True  # no row fully masked (its softmax would be NaN in every engine)
    return model, {**feed, "mask": mask}


def test_attention_scale_and_mask_fold_into_the_softmax(tmp_path):
    """Key-padding masks ([B, 1, 1, S], [S]) and a power-of-two Div (or any Mul) fold into one
    MaskedSoftmax; a mask that varies per head and query, or a Div by 3 (whose reciprocal is
    inexact), stays as atomic ops. All agree with the reference backend."""
    # (scale op, scale, mask shape, Select and Binary ops left, softmax kernel)
    cases = [("Div", 8.0, (2, 1, 1, 24), 0, 0, "f32-masked-softmax"), ("Mul", 0.3, (24,), 0, 0, "f32-masked-softmax"),
             ("Div", 3.0, (2, 1, 1, 24), 0, 1, "f32-masked-softmax"), ("Div", 4.0, (2, 1, 24, 24), 1, 1, "f32-softmax")]
    for scale_op, scale, mask_shape, selects, binaries, softmax in cases:
        model, feed = _attention_scores(scale_op, scale, mask_shape)
        fast, ref = _sessions(model, tmp_path)
        np.testing.assert_allclose(fast.run(feed)["p"], ref.run(feed)["p"], rtol=1e-5, atol=1e-7)
        if walle._walle.detected_isa() == "reference":
            continue
        plan = fast.plan()
        ops = [row["op"] for row in plan]
        assert (ops.count("Select"), ops.count("Binary")) == (selects, binaries), (scale_op, scale, mask_shape, ops)
        assert [row["kernel"].rsplit("-", 1)[0] for row in plan if row["op"] == "Fused"] == [softmax], plan


def test_graph_output_inside_pattern_is_not_fused(tmp_path):
    """A LayerNorm whose centered value is also a graph output keeps its atomic ops."""
    f32 = np.float32
    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], axes=[-1]), helper.make_node("Sub", ["x", "m"], ["c"]),
             helper.make_node("Mul", ["c", "c"], ["sq"]), helper.make_node("ReduceMean", ["sq"], ["v"], axes=[-1]),
             helper.make_node("Add", ["v", "eps"], ["ve"]), helper.make_node("Sqrt", ["ve"], ["sd"]),
             helper.make_node("Div", ["c", "sd"], ["y"])]
    model = _model(nodes, {"x": rng.standard_normal((4, 9)).astype(f32)}, {"eps": np.array(1e-5, f32)}, ["y", "c"])
    fast, ref = _sessions(model, tmp_path)
    feed = {"x": rng.standard_normal((4, 9)).astype(f32)}
    got, want = fast.run(feed), ref.run(feed)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-6)


def test_profile_records_kernel_time(tmp_path, monkeypatch):
    monkeypatch.setenv("WALLE_PROFILE", "1")
    model, feed = _encoder_block()
    fast, _ = _sessions(model, tmp_path)
    fast.run(feed)
    fast.run(feed)
    rows = fast.plan()
    assert all("us" in r for r in rows) and sum(r["us"] for r in rows) > 0
