"""Every atomic kernel, through the composite ops that decompose into it, on every
instruction set this machine has (reference, AVX2, AVX-512), against the onnx package's
numpy reference evaluator, on awkward shapes."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import walle

from .onnx_helpers import available_isas, node_model, reference, run_walle, with_output_types

rng = np.random.default_rng(7)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def pos(*shape):
    return (rng.random(shape) + 0.1).astype(np.float32)


# Cases added later draw from their own generator, so the data of the earlier ones stays the same.
rng2 = np.random.default_rng(8)


def g32(*shape):
    return rng2.standard_normal(shape).astype(np.float32)


def ints(*shape, lo=-5, hi=6, dtype=np.int64):
    return rng.integers(lo, hi, shape).astype(dtype)


# (id, op, graph inputs, initializers, attributes, number of outputs)
CASES = [
    *[(f"unary-{op}", op, {"x": f32(3, 17)}, {}, {}, 1)
      for op in ["Relu", "Sigmoid", "Tanh", "Exp", "Neg", "Abs", "Erf", "Floor", "Ceil", "Sin", "Cos", "Sign",
                 "Softplus", "HardSwish"]],
    ("unary-Log", "Log", {"x": pos(1023)}, {}, {}, 1),
    ("unary-Sqrt", "Sqrt", {"x": pos(7, 7)}, {}, {}, 1),
    ("unary-Reciprocal", "Reciprocal", {"x": pos(31)}, {}, {}, 1),
    ("unary-Round", "Round", {"x": np.array([0.5, 1.5, 2.5, -0.5, -1.5, 2.4], np.float32)}, {}, {}, 1),
    ("LeakyRelu", "LeakyRelu", {"x": f32(2, 33)}, {}, {"alpha": 0.1}, 1),
    ("Elu", "Elu", {"x": f32(2, 9)}, {}, {"alpha": 0.7}, 1),
    ("HardSigmoid", "HardSigmoid", {"x": f32(2, 9)}, {}, {"alpha": 0.3, "beta": 0.4}, 1),
    ("Clip-const", "Clip", {"x": f32(4, 17)}, {"lo": np.float32(-0.5), "hi": np.float32(0.7)}, {}, 1),
    ("Clip-int", "Clip", {"x": ints(4, 5)}, {"lo": np.int64(-2), "hi": np.int64(3)}, {}, 1),
    ("Gelu-exact", "Gelu", {"x": f32(5, 64)}, {}, {}, 1),
    ("Gelu-tanh", "Gelu", {"x": f32(5, 64)}, {}, {"approximate": "tanh"}, 1),
    ("Abs-int32", "Abs", {"x": ints(9, dtype=np.int32)}, {}, {}, 1),
    ("Neg-f64", "Neg", {"x": f32(4).astype(np.float64)}, {}, {}, 1),
    ("Not", "Not", {"x": rng.random((3, 5)) > 0.5}, {}, {}, 1),
    *[(f"binary-{op}", op, {"a": f32(2, 3, 17), "b": f32(3, 1)}, {}, {}, 1)
      for op in ["Add", "Sub", "Mul", "Max", "Min", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"]],
    ("binary-Div", "Div", {"a": f32(2, 1023), "b": pos(1023)}, {}, {}, 1),
    ("binary-Pow", "Pow", {"a": pos(7, 3), "b": f32(3)}, {}, {}, 1),
    ("binary-scalar", "Mul", {"a": f32(1, 7, 7)}, {"b": np.float32(1.5)}, {}, 1),
    ("binary-both-broadcast", "Add", {"a": f32(4, 1, 5), "b": f32(1, 3, 1)}, {}, {}, 1),
    ("binary-int64", "Add", {"a": ints(3, 4), "b": ints(4)}, {}, {}, 1),
    ("binary-int-Div", "Div", {"a": ints(3, 4), "b": ints(4, lo=1, hi=4)}, {}, {}, 1),
    ("binary-Mod", "Mod", {"a": ints(3, 4), "b": ints(4, lo=1, hi=4)}, {}, {}, 1),
    ("binary-FMod", "Mod", {"a": f32(3, 4), "b": pos(4)}, {}, {"fmod": 1}, 1),
    ("binary-f64", "Mul", {"a": f32(3, 4).astype(np.float64), "b": f32(4).astype(np.float64)}, {}, {}, 1),
    ("binary-And", "And", {"a": rng.random((2, 6)) > 0.5, "b": rng.random(6) > 0.5}, {}, {}, 1),
    ("binary-Xor", "Xor", {"a": rng.random((2, 6)) > 0.5, "b": rng.random(6) > 0.5}, {}, {}, 1),
    ("PRelu", "PRelu", {"x": f32(2, 5, 3, 3)}, {"slope": f32(5, 1, 1)}, {}, 1),
    ("Sum-variadic", "Sum", {"a": f32(3, 4), "b": f32(4), "c": f32(3, 1)}, {}, {}, 1),
    ("Mean-variadic", "Mean", {"a": f32(3, 4), "b": f32(4)}, {}, {}, 1),
    ("Max-variadic", "Max", {"a": f32(3, 4), "b": f32(4), "c": f32(1)}, {}, {}, 1),
    ("Where", "Where", {"c": rng.random((3, 1)) > 0.5, "a": f32(3, 4), "b": f32(4)}, {}, {}, 1),
    ("Where-int", "Where", {"c": rng.random(5) > 0.5, "a": ints(5), "b": ints(1)}, {}, {}, 1),
    ("Cast-f2i", "Cast", {"x": f32(3, 5) * 10}, {}, {"to": 7}, 1),
    ("Cast-i2f", "Cast", {"x": ints(7)}, {}, {"to": 1}, 1),
    ("Cast-f2h", "Cast", {"x": f32(9)}, {}, {"to": 10}, 1),
    ("Cast-f2bool", "Cast", {"x": np.array([0, 1.5, -2, 0], np.float32)}, {}, {"to": 9}, 1),
    *[(f"reduce-{op}-{axes}-{keep}", op, {"x": f32(3, 5, 7) if op not in ("ReduceLogSum", "ReduceL2") else pos(3, 5, 7)},
       {"axes": np.array(axes, np.int64)}, {"keepdims": keep}, 1)
      for op in ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare", "ReduceL1",
                 "ReduceL2", "ReduceLogSum", "ReduceLogSumExp"]
      for axes, keep in [([1], 1), ([0, 2], 0), ([-1], 1)]],
    ("ReduceSum-all", "ReduceSum", {"x": f32(4, 1023)}, {}, {"keepdims": 0}, 1),
    ("ReduceSum-int", "ReduceSum", {"x": ints(4, 6)}, {"axes": np.array([1], np.int64)}, {}, 1),
    ("ArgMax", "ArgMax", {"x": f32(3, 17)}, {}, {"axis": 1}, 1),
    ("ArgMin-last", "ArgMin", {"x": np.array([[1, 0, 0, 3]], np.float32)}, {}, {"axis": -1, "select_last_index": 1}, 1),
    ("Softmax", "Softmax", {"x": f32(2, 3, 17)}, {}, {"axis": -1}, 1),
    ("Softmax-axis1", "Softmax", {"x": f32(2, 3, 17)}, {}, {"axis": 1}, 1),
    ("LogSoftmax", "LogSoftmax", {"x": f32(4, 33)}, {}, {}, 1),
    ("Softmax-rows-1", "Softmax", {"x": g32(7, 1)}, {}, {"axis": -1}, 1),
    ("Softmax-1023", "Softmax", {"x": g32(3, 1023) * 30}, {}, {"axis": -1}, 1),
    ("Softmax-masked", "Softmax", {"x": np.where(rng2.random((2, 17, 33)) > 0.5, g32(2, 17, 33),
                                                 np.float32(-3.4028235e38)).astype(np.float32)}, {}, {"axis": -1}, 1),
    ("LayerNorm-17-no-bias", "LayerNormalization", {"x": g32(5, 17) * 3 + 2}, {"s": g32(17)}, {"epsilon": 1e-3}, 1),
    ("LayerNorm-1", "LayerNormalization", {"x": g32(3, 1)}, {"s": g32(1), "b": g32(1)}, {}, 1),
    ("LayerNorm-1023", "LayerNormalization", {"x": g32(2, 1023)}, {"s": g32(1023), "b": g32(1023)}, {}, 1),
    ("LayerNorm", "LayerNormalization", {"x": f32(2, 7, 64)}, {"s": f32(64), "b": f32(64)}, {"epsilon": 1e-5}, 1),
    ("LayerNorm-axis", "LayerNormalization", {"x": f32(2, 3, 8)}, {"s": f32(3, 8)}, {"axis": 1}, 1),
    *[(f"MatMul-{a}x{b}", "MatMul", {"a": f32(*a)}, {"b": f32(*b)}, {}, 1)
      for a, b in [((1, 1), (1, 1)), ((7, 17), (17, 31)), ((17, 1023), (1023, 7)), ((2, 3, 7, 5), (5, 9)),
                   ((64,), (64, 3)), ((3, 8), (8,))]],
    ("MatMul-batched", "MatMul", {"a": f32(2, 3, 7, 5), "b": f32(3, 5, 6)}, {}, {}, 1),
    ("MatMul-broadcast", "MatMul", {"a": f32(1, 7, 5), "b": f32(4, 5, 6)}, {}, {}, 1),
    ("MatMul-int", "MatMul", {"a": ints(3, 4), "b": ints(4, 2)}, {}, {}, 1),
    ("Gemm", "Gemm", {"a": f32(7, 5)}, {"b": f32(6, 5), "c": f32(6)}, {"transB": 1}, 1),
    ("Gemm-alpha-beta", "Gemm", {"a": f32(5, 7)}, {"b": f32(5, 6), "c": f32(7, 6)},
     {"transA": 1, "alpha": 0.5, "beta": 2.0}, 1),
    ("Conv-3x3", "Conv", {"x": f32(1, 3, 17, 13)}, {"w": f32(8, 3, 3, 3), "b": f32(8)}, {"pads": [1, 1, 1, 1]}, 1),
    ("Conv-1x1", "Conv", {"x": f32(2, 16, 7, 7)}, {"w": f32(31, 16, 1, 1)}, {}, 1),
    ("Conv-stride-dilation", "Conv", {"x": f32(1, 4, 19, 19)}, {"w": f32(6, 4, 3, 3)},
     {"strides": [2, 2], "dilations": [2, 2], "pads": [2, 1, 0, 2]}, 1),
    ("Conv-groups", "Conv", {"x": f32(1, 8, 9, 9)}, {"w": f32(12, 2, 3, 3)}, {"group": 4, "pads": [1, 1, 1, 1]}, 1),
    ("Conv-depthwise-s2", "Conv", {"x": f32(1, 16, 15, 15)}, {"w": f32(16, 1, 3, 3), "b": f32(16)},
     {"group": 16, "strides": [2, 2], "pads": [1, 1, 1, 1]}, 1),
    ("Conv-same-upper", "Conv", {"x": f32(1, 3, 10, 11)}, {"w": f32(5, 3, 4, 4)}, {"auto_pad": "SAME_UPPER"}, 1),
    ("Conv-1d", "Conv", {"x": f32(2, 4, 23)}, {"w": f32(6, 4, 5)}, {"pads": [2, 2]}, 1),
    ("MaxPool", "MaxPool", {"x": f32(1, 3, 17, 17)}, {}, {"kernel_shape": [3, 3], "strides": [2, 2]}, 1),
    ("MaxPool-s1-pad", "MaxPool", {"x": g32(2, 3, 7, 23)}, {}, {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, 1),
    ("MaxPool-s3-dilated", "MaxPool", {"x": g32(1, 2, 19, 19)}, {},
     {"kernel_shape": [2, 3], "strides": [3, 3], "dilations": [2, 1]}, 1),
    ("AvgPool-s1-wide", "AveragePool", {"x": g32(1, 3, 5, 1030)}, {},
     {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}, 1),
    ("Conv-depthwise-s1-big", "Conv", {"x": g32(1, 7, 33, 35)}, {"w": g32(7, 1, 3, 3), "b": g32(7)},
     {"group": 7, "pads": [1, 1, 1, 1]}, 1),
    # rows shorter than 32: the flat-stencil path
    ("Conv-depthwise-s1-short", "Conv", {"x": g32(2, 6, 13, 9)}, {"w": g32(6, 1, 3, 3), "b": g32(6)},
     {"group": 6, "pads": [1, 1, 1, 1]}, 1),
    ("Conv-depthwise-5x5-s2", "Conv", {"x": g32(2, 5, 17, 16)}, {"w": g32(5, 1, 5, 5)},
     {"group": 5, "pads": [2, 2, 2, 2], "strides": [2, 2]}, 1),
    ("Conv-3x3-wide", "Conv", {"x": g32(1, 5, 9, 71)}, {"w": g32(33, 5, 3, 3), "b": g32(33)},
     {"pads": [1, 0, 1, 2]}, 1),
    ("Conv-3x3-s1-odd", "Conv", {"x": g32(2, 6, 13, 11)}, {"w": g32(9, 6, 3, 3), "b": g32(9)}, {"pads": [1, 1, 1, 1]}, 1),
    ("Conv-3x3-s1-nopad", "Conv", {"x": g32(1, 3, 8, 37)}, {"w": g32(5, 3, 3, 3)}, {}, 1),
    # Winograd cuts the tiles into several L2-sized blocks: with 2 threads F(2x2) gives them whole
    # blocks (8), F(4x4) splits each of its 4 blocks' steps
    ("Conv-3x3-s1-blocks", "Conv", {"x": g32(2, 16, 70, 66)}, {"w": g32(24, 16, 3, 3), "b": g32(24)},
     {"pads": [1, 1, 1, 1]}, 1),
    ("Conv-3x3-s1-asym", "Conv", {"x": g32(1, 4, 6, 5)}, {"w": g32(40, 4, 3, 3)}, {"pads": [0, 2, 1, 0]}, 1),
    # small images: the transposed (pixels x channels) GEMM path
    ("Conv-3x3-small-image", "Conv", {"x": g32(2, 8, 7, 7)}, {"w": g32(64, 8, 3, 3), "b": g32(64)}, {"pads": [1, 1, 1, 1]}, 1),
    ("Conv-1x1-small-image", "Conv", {"x": g32(1, 24, 5, 9)}, {"w": g32(96, 24, 1, 1), "b": g32(96)}, {}, 1),
    ("Conv-7x7-s2", "Conv", {"x": g32(1, 3, 29, 31)}, {"w": g32(17, 3, 7, 7)},
     {"pads": [3, 3, 3, 3], "strides": [2, 2]}, 1),
    ("MaxPool-ceil-pad", "MaxPool", {"x": f32(1, 2, 10, 10)}, {},
     {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1}, 1),
    ("AvgPool-include-pad", "AveragePool", {"x": f32(1, 2, 9, 9)}, {},
     {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}, 1),
    ("AvgPool-exclude-pad", "AveragePool", {"x": f32(1, 2, 9, 9)}, {},
     {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [1, 1, 0, 0]}, 1),
    ("GlobalAveragePool", "GlobalAveragePool", {"x": f32(1, 5, 7, 7)}, {}, {}, 1),
    ("GlobalMaxPool", "GlobalMaxPool", {"x": f32(2, 5, 3, 4)}, {}, {}, 1),
    ("BatchNorm", "BatchNormalization", {"x": f32(2, 3, 4, 5)},
     {"s": pos(3), "b": f32(3), "m": f32(3), "v": pos(3)}, {"epsilon": 1e-3}, 1),
    ("Gather-axis0", "Gather", {"x": f32(10, 4)}, {"i": np.array([[0, 9], [-1, 3]], np.int64)}, {}, 1),
    ("Gather-axis1-i32", "Gather", {"x": f32(3, 10, 2)}, {"i": np.array([4, -2], np.int32)}, {"axis": 1}, 1),
    ("Gather-runtime-indices", "Gather", {"x": f32(6, 3), "i": np.array([5, 0, 2], np.int64)}, {}, {}, 1),
    ("Transpose", "Transpose", {"x": f32(2, 3, 4, 5)}, {}, {"perm": [0, 2, 3, 1]}, 1),
    ("Transpose-5d", "Transpose", {"x": f32(2, 3, 2, 3, 2)}, {}, {"perm": [4, 2, 0, 3, 1]}, 1),
    ("Transpose-default", "Transpose", {"x": ints(3, 5)}, {}, {}, 1),
    ("Concat", "Concat", {"a": f32(2, 3, 4), "b": f32(2, 1, 4), "c": f32(2, 5, 4)}, {}, {"axis": 1}, 1),
    ("Concat-neg-axis", "Concat", {"a": ints(2, 3), "b": ints(2, 2)}, {}, {"axis": -1}, 1),
    ("Slice", "Slice", {"x": f32(5, 9, 4)},
     {"s": np.array([1, -7], np.int64), "e": np.array([4, 100], np.int64), "a": np.array([0, 1], np.int64),
      "st": np.array([2, 3], np.int64)}, {}, 1),
    ("Slice-negative-step", "Slice", {"x": f32(6, 5)},
     {"s": np.array([-1], np.int64), "e": np.array([-100], np.int64), "a": np.array([0], np.int64),
      "st": np.array([-2], np.int64)}, {}, 1),
    ("Split", "Split", {"x": f32(2, 10)}, {"split": np.array([3, 7], np.int64)}, {"axis": 1}, 2),
    ("Split-equal", "Split", {"x": f32(6, 2)}, {}, {}, 3),
    ("Expand", "Expand", {"x": f32(3, 1)}, {"shape": np.array([2, 1, 4], np.int64)}, {}, 1),
    ("Tile", "Tile", {"x": f32(2, 3)}, {"r": np.array([2, 3], np.int64)}, {}, 1),
    ("Pad", "Pad", {"x": f32(2, 3)}, {"p": np.array([1, 0, 2, 3], np.int64), "v": np.float32(1.5)}, {}, 1),
    ("Reshape", "Reshape", {"x": f32(2, 3, 4)}, {"s": np.array([0, -1], np.int64)}, {}, 1),
    ("Flatten", "Flatten", {"x": f32(2, 3, 4)}, {}, {"axis": 2}, 1),
    ("Squeeze", "Squeeze", {"x": f32(1, 3, 1, 2)}, {"a": np.array([0, -2], np.int64)}, {}, 1),
    ("Unsqueeze", "Unsqueeze", {"x": f32(3, 2)}, {"a": np.array([0, 3], np.int64)}, {}, 1),
    ("Shape", "Shape", {"x": f32(2, 3, 4)}, {}, {"start": 1}, 1),
    ("Size", "Size", {"x": f32(2, 3, 4)}, {}, {}, 1),
    ("ConstantOfShape", "ConstantOfShape", {}, {"s": np.array([2, 3], np.int64)},
     {"value": __import__("onnx").numpy_helper.from_array(np.array([7], np.int64))}, 1),
    ("Range", "Range", {}, {"a": np.float32(1), "b": np.float32(4), "d": np.float32(0.5)}, {}, 1),
    ("Identity", "Identity", {"x": f32(3)}, {}, {}, 1),
]

rng3 = np.random.default_rng(9)


def h32(*shape):
    return rng3.standard_normal(shape).astype(np.float32)


# 3x3 stride-2 max pool rows: several 16-wide blocks plus tails, padding, ceil mode.
CASES += [
    ("MaxPool-s2-wide", "MaxPool", {"x": h32(1, 3, 9, 70)}, {}, {"kernel_shape": [3, 3], "strides": [2, 2]}, 1),
    ("MaxPool-s2-pad-ceil", "MaxPool", {"x": h32(2, 2, 12, 67)}, {},
     {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1}, 1),
    ("MaxPool-s2-ceil-33", "MaxPool", {"x": h32(1, 4, 27, 33)}, {},
     {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}, 1),
    # stride-2 im2col gathers: 16-wide blocks, masked tails, the last row at the buffer's end
    ("Conv-3x3-s2-wide", "Conv", {"x": h32(1, 2, 9, 67)}, {"w": h32(5, 2, 3, 3), "b": h32(5)},
     {"strides": [2, 2], "pads": [1, 1, 1, 1]}, 1),
    ("Conv-5x5-s2-nopad", "Conv", {"x": h32(2, 3, 11, 70)}, {"w": h32(4, 3, 5, 5)}, {"strides": [2, 2]}, 1),
    ("Conv-7x7-s2-stem", "Conv", {"x": h32(1, 3, 40, 99)}, {"w": h32(16, 3, 7, 7), "b": h32(16)},
     {"strides": [2, 2], "pads": [3, 3, 3, 3]}, 1),
]


def _opset(op: str) -> int:
    """The first opset with the form these cases use (Reduce* axes as input, Gelu)."""
    if op == "Gelu":
        return 20
    return 18 if op.startswith("Reduce") else 17


def _scale_tolerance(op: str) -> float:
    """Convolutions may run as Winograd F(4x4, 3x3) where its estimate wins: its transforms scale
    terms by up to 8 before they cancel, so its error (~1e-6 of the output's magnitude) is
    relative to the output as a whole, not to each element. test_conv_algorithms checks every
    other algorithm with the strict elementwise tolerance."""
    return 1e-5 if op == "Conv" else 0.0


def _check(got: list[np.ndarray], want: list[np.ndarray], atol_of_scale: float = 0.0) -> None:
    """Exact dtype and shape; floats within rtol 1e-4 and atol 1e-5, or atol_of_scale times the
    largest |value| where an algorithm's rounding error scales with the output's magnitude."""
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape, f"shape {g.shape} != {w.shape}"
        assert g.dtype == w.dtype, f"dtype {g.dtype} != {w.dtype}"
        if w.dtype.kind == "f":
            atol = max(1e-5, atol_of_scale * float(np.abs(w).max(initial=0)))
            np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=1e-4, atol=atol)
        else:
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("isa", available_isas())
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_op_matches_reference(case, isa, tmp_path):
    _, op, inputs, constants, attrs, n_out = case
    model = node_model(op, inputs, n_out, constants, opset=_opset(op), **attrs)
    _check(run_walle(model, inputs, tmp_path, isa=isa), reference(model, inputs), _scale_tolerance(op))


@pytest.mark.parametrize("case", [c for c in CASES if c[1] in ("Conv", "MatMul", "Gemm", "Softmax", "Add",
                                                               "LayerNormalization", "MaxPool", "AveragePool")],
                         ids=lambda c: c[0])
def test_op_two_threads(case, tmp_path):
    _, op, inputs, constants, attrs, n_out = case
    model = node_model(op, inputs, n_out, constants, opset=_opset(op), **attrs)
    _check(run_walle(model, inputs, tmp_path, threads=2), reference(model, inputs), _scale_tolerance(op))


def _conv_variants(model, inputs, tmp_path, force) -> list[str]:
    """The variants the CPU offers for the model's Conv ops (plan()'s ``variants``)."""
    onnx.save(with_output_types(model), tmp_path / "v.onnx")
    walle.convert(tmp_path / "v.onnx", tmp_path / "v.walle")
    session = walle.load(tmp_path / "v.walle", force=force)
    session.run(inputs)
    return [v for r in session.plan() if r["op"] == "Conv" for v in r["variants"]]


@pytest.mark.parametrize("algo", ["winograd-f23", "winograd-f43", "im2col", "im2col-t", "depthwise", "blocked"])
@pytest.mark.parametrize("case", [c for c in CASES if c[1] == "Conv"], ids=lambda c: c[0])
def test_conv_algorithms(case, algo, tmp_path):
    """Every conv variant the CPU backend offers, forced (SessionOptions.force), vs the reference.
    The NCHW variants run with the channel-blocked layout off; "blocked" is that layout's own
    choice (where the ISA has it and the conv has >= 16 output channels). Forcing a variant that
    the conv does not offer is a BackendError naming the ones it does."""
    _, op, inputs, constants, attrs, n_out = case
    model = node_model(op, inputs, n_out, constants, opset=_opset(op), **attrs)
    force = {} if algo == "blocked" else {"layout": "nchw", "Conv": algo}
    if algo != "blocked" and algo not in _conv_variants(model, inputs, tmp_path, {"layout": "nchw"}):
        with pytest.raises(walle.BackendError, match=f"force Conv='{algo}': no Conv of this model"):
            run_walle(model, inputs, tmp_path, force=force)
        return
    # Rounding that scales with the output: Winograd's transforms; the blocked kernel's
    # summation order (taps outside channels) on outputs near zero.
    scale_tol = _scale_tolerance(op) if algo in ("winograd-f43", "blocked") else 0.0
    _check(run_walle(model, inputs, tmp_path, force=force), reference(model, inputs), scale_tol)
    _check(run_walle(model, inputs, tmp_path, threads=2, force=force), reference(model, inputs), scale_tol)


def test_maxpool_s2_nan_is_sticky(tmp_path):
    """A NaN anywhere in a 3x3 stride-2 window gives NaN, on every ISA (as the reference)."""
    x = h32(1, 2, 11, 41)
    x[0, 0, 4, 17] = np.nan
    x[0, 1, 0, 40] = np.nan
    model = node_model("MaxPool", {"x": x}, 1, {}, opset=17, kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    want = None
    for isa in available_isas():
        got = run_walle(model, {"x": x}, tmp_path, isa=isa)[0]
        if want is None:
            want = got
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got, want)
    assert np.isnan(want[0, 0, 2, 8]) and np.isnan(want[0, 0, 1, 8]) and np.isnan(want[0, 1, 0, 19])
