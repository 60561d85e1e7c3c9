"""Hostile models and inputs that once crashed Walle (issue 24): each now ends in a named
walle error that names the node, the field and the file. Every case runs in a child process
(tests/engine/hostile.py), so a crash fails the test instead of killing pytest."""

from __future__ import annotations

import numpy as np
import pytest
from walle.converters.onnx.writer import GraphSpec, NodeSpec

from .hostile import FLOAT, INT64, assert_all_raise, const, run_isolated, value, write_model

SCALAR = [value("x", [])]
Y = [value("y", [])]

# Op -> (extra inputs as constants, attributes, number of outputs; "x" among the constants
# makes the scalar itself a constant): each applies axis 0 to a
# scalar, which the ONNX spec forbids (axis must lie in [-r, r-1], an empty range for r = 0).
AXIS_ON_SCALAR = {
    "Split": ({}, {"axis": 0}, 1),
    "Softmax": ({}, {"axis": 0}, 1),
    "Hardmax": ({}, {"axis": 0}, 1),
    "ArgMax": ({}, {"axis": 0}, 1),
    "Concat": ({"x2": np.float32(1)}, {"axis": 0}, 1),
    "LpNormalization": ({}, {"axis": 0}, 1),
    "CumSum": ({"axis": np.int64(0)}, {}, 1),
    "Gather": ({"i": np.int64(0)}, {"axis": 0}, 1),
    "TopK": ({"k": np.array([1], np.int64)}, {"axis": 0}, 2),
    "GatherElements": ({"i": np.int64(0)}, {"axis": 0}, 1),
    "Compress": ({"c": np.array([True])}, {"axis": 0}, 1),
    "Unique": ({"x": np.float32(1)}, {"axis": 0}, 1),  # x constant: Unique needs its value to plan
    "ReduceSum": ({"axes": np.array([0], np.int64)}, {}, 1),
    "Squeeze": ({"axes": np.array([0], np.int64)}, {}, 1),
    "ScatterElements": ({"i": np.int64(0), "u": np.float32(1)}, {"axis": 0}, 1),
    "Slice": ({"s": np.array([0], np.int64), "e": np.array([1], np.int64), "a": np.array([0], np.int64)}, {}, 1),
    "MeanVarianceNormalization": ({}, {"axes": [0]}, 1),
    "Gemm": ({"b": np.float32(1)}, {}, 1),
    "SplitToSequence": ({}, {"axis": 0}, 1),
}


def _one_node(tmp_path, op, extra, attrs, n_out, inputs=None, name="hostile_node"):
    outs = [f"y{k}" for k in range(n_out)]
    kind = "sequence" if op == "SplitToSequence" else "tensor"
    out_specs = [value(o, []) for o in outs]
    for s in out_specs:
        s.kind = kind
    return write_model(tmp_path / f"{op}.walle",
                       [NodeSpec(op, name, ["x", *(k for k in extra if k != "x")], outs, attrs)],
                       [] if "x" in extra else inputs if inputs is not None else SCALAR, out_specs,
                       [const(k, v) for k, v in extra.items()])


def test_axis_on_a_scalar_is_a_model_error(tmp_path):
    cases = {op: (_one_node(tmp_path, op, *spec), None, {}) for op, spec in AXIS_ON_SCALAR.items()}
    # The same inside a Loop body: a Softmax over the scalar carried value.
    body = GraphSpec([value("i", [], INT64), value("c", [], 9), value("v", [])],
                     [value("c_out", [], 9), value("v_out", [])], [],
                     [NodeSpec("Identity", "keep_going", ["c"], ["c_out"]),
                      NodeSpec("Softmax", "body_softmax", ["v"], ["v_out"], {"axis": 0})])
    loop = write_model(tmp_path / "loop.walle", [NodeSpec("Loop", "loop", ["m", "", "x"], ["y"], {"body": body})],
                       SCALAR, Y, [const("m", np.array(2, np.int64))])
    cases["Loop"] = (loop, None, {})
    results, proc = run_isolated(cases, tmp_path)
    names = {op: ["hostile_node", "axis", f"{op}.walle"] for op in AXIS_ON_SCALAR}
    names["Gemm"] = ["hostile_node", "rank", "Gemm.walle"]  # Gemm has no axis: its operands must be 2-d
    names["Loop"] = ["body_softmax", "axis", "loop.walle"]
    assert_all_raise(results, proc, cases, "ModelError", names)


# Inputs that must hold exactly one integer, given as an empty tensor: op -> (inputs as
# (name, array) in order, outputs, attributes, the field named).
EMPTY_INT = {
    "TopK": ([("x", None), ("k", np.zeros(0, np.int64))], 2, {}, "K"),
    "DFT_length": ([("x", None), ("n", np.zeros(0, np.int64))], 1, {}, "dft_length"),
    "DFT_axis": ([("x", None), ("", None), ("a", np.zeros(0, np.int64))], 1, {}, "axis"),
    "STFT": ([("x", None), ("step", np.zeros(0, np.int64))], 1, {}, "frame_step"),
    "HannWindow": ([("size", np.zeros(0, np.int64))], 1, {}, "size"),
}


def test_empty_tensor_where_one_integer_is_expected(tmp_path):
    cases, names = {}, {}
    signal = [value("x", [1, 8, 1])]
    for case, (ins, n_out, attrs, field) in EMPTY_INT.items():
        op = case.split("_")[0]
        consts = [const(n, a) for n, a in ins if a is not None and n]
        model_inputs = signal if any(n == "x" for n, _ in ins) else []
        outs = [f"y{k}" for k in range(n_out)]
        path = write_model(tmp_path / f"{case}.walle", [NodeSpec(op, "hostile_node", [n for n, _ in ins], outs, attrs)],
                           model_inputs, [value(o, [-1]) for o in outs], consts)
        cases[case] = (path, None, {})
        names[case] = ["hostile_node", field, f"{case}.walle"]
    body = GraphSpec([value("i", [], INT64), value("c", [], 9), value("v", [])],
                     [value("c_out", [], 9), value("v_out", [])], [],
                     [NodeSpec("Identity", "keep_going", ["c"], ["c_out"]), NodeSpec("Identity", "same", ["v"], ["v_out"])])
    cases["Loop"] = (write_model(tmp_path / "Loop.walle", [NodeSpec("Loop", "hostile_node", ["m", "", "x"], ["y"], {"body": body})],
                                 SCALAR, Y, [const("m", np.zeros(0, np.int64))]), None, {})
    names["Loop"] = ["hostile_node", "M", "Loop.walle"]
    results, proc = run_isolated(cases, tmp_path)
    assert_all_raise(results, proc, cases, "ModelError", names)


def test_empty_k_fed_at_run_time_is_an_input_error(tmp_path):
    """K as a graph input: the model loads (K's value is needed only at the first run), and
    a run fed an empty K must fail naming K instead of crashing the process."""
    k = value("k", [-1], INT64)
    k.dim_names = ["n"]
    path = write_model(tmp_path / "topk.walle", [NodeSpec("TopK", "hostile_node", ["x", "k"], ["v", "i"])],
                       [value("x", [4]), k], [value("v", [-1]), value("i", [-1], INT64)])
    feed = {"x": np.arange(4, dtype=np.float32), "k": np.zeros((0,), np.int64)}
    ok = {"x": np.arange(4, dtype=np.float32), "k": np.array([2], np.int64)}
    cases = {"empty_k": (path, feed, {}), "good_k": (path, ok, {})}
    results, proc = run_isolated(cases, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert results["good_k"]["error"] is None
    r = results["empty_k"]
    assert r["error"] == "InputError" and all(s in r["message"] for s in ("hostile_node", "K", "topk.walle")), r


def test_matmul_integer_scalar_operands_with_a_matrix_zero_point(tmp_path):
    u8 = 2
    path = write_model(tmp_path / "mmi.walle", [NodeSpec("MatMulInteger", "hostile_node", ["a", "b", "azp"], ["y"])],
                       [value("a", [], u8), value("b", [], u8)], [value("y", [], 6)],
                       [const("azp", np.zeros((2, 3), np.uint8))])
    results, proc = run_isolated({"mmi": (path, None, {})}, tmp_path)
    assert_all_raise(results, proc, ["mmi"], "ModelError", {"mmi": ["hostile_node", "mmi.walle"]})


def test_loop_without_inputs_or_body_outputs(tmp_path):
    body = GraphSpec([value("i", [], INT64), value("c", [], 9)], [value("c_out", [], 9)], [],
                     [NodeSpec("Identity", "keep_going", ["c"], ["c_out"])])
    no_inputs = write_model(tmp_path / "noin.walle", [NodeSpec("Loop", "hostile_node", [], ["y"], {"body": body})],
                            [], [value("y", [])])
    empty_body = GraphSpec([value("i", [], INT64), value("c", [], 9), value("v", [])], [], [], [])
    no_outputs = write_model(tmp_path / "noout.walle",
                             [NodeSpec("Loop", "hostile_node", ["m", "", "x"], ["y"], {"body": empty_body})],
                             SCALAR, Y, [const("m", np.array(1, np.int64))])
    cases = {"no_inputs": (no_inputs, None, {}), "no_body_outputs": (no_outputs, None, {})}
    results, proc = run_isolated(cases, tmp_path)
    assert_all_raise(results, proc, cases, "ModelError",
                     {"no_inputs": ["hostile_node", "noin.walle"], "no_body_outputs": ["hostile_node", "noout.walle"]})


def test_thread_count_is_bounded(tmp_path):
    path = write_model(tmp_path / "relu.walle", [NodeSpec("Relu", "r", ["x"], ["y"])], [value("x", [2])], [value("y", [2])])
    cases = {"huge": (path, None, {"threads": 10**9}), "over": (path, None, {"threads": 100_000}),
             "ok": (path, {"x": np.ones(2, np.float32)}, {"threads": 2})}
    results, proc = run_isolated(cases, tmp_path, timeout=120, memory_limit=8 << 30)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert results["ok"]["error"] is None
    for case in ("huge", "over"):
        assert results[case]["error"] == "InputError" and "threads" in results[case]["message"], results[case]


@pytest.mark.parametrize("dim", [2**62, 2**63 - 1])
def test_huge_declared_dims_are_a_model_error(tmp_path, dim):
    path = write_model(tmp_path / "big.walle", [NodeSpec("Relu", "r", ["x"], ["y"])], [value("x", [dim, 2])],
                       [value("y", [dim, 2])])
    results, proc = run_isolated({"big": (path, None, {})}, tmp_path)
    assert_all_raise(results, proc, ["big"], "ModelError", {"big": ["'x'", "dimension", "big.walle"]})
    assert "-9223372036854775808" not in results["big"]["message"]


def test_huge_planned_shape_is_a_model_error(tmp_path):
    """A constant shape whose element count overflows int64 (2^32 * 2^32 * 4)."""
    path = write_model(tmp_path / "expand.walle", [NodeSpec("Expand", "hostile_node", ["x", "s"], ["y"])],
                       [value("x", [1])], [value("y", [-1, -1, -1])],
                       [const("s", np.array([2**32, 2**32, 4], np.int64))])
    results, proc = run_isolated({"expand": (path, None, {})}, tmp_path)
    assert_all_raise(results, proc, ["expand"], "ModelError", {"expand": ["hostile_node", "expand.walle"]})


def test_non_utf8_names_are_a_model_error(tmp_path):
    from walle.converters.onnx import writer

    cases = {}
    for field in ("name", "op_type"):
        node = NodeSpec("Relu", "relu_NAME", ["x"], ["y"]) if field == "name" else NodeSpec("OPTYPE", "r", ["x"], ["y"])
        data = writer.serialize(GraphSpec([value("x", [2])], [value("y", [2])], [], [node]), "t")
        marker = b"relu_NAME" if field == "name" else b"OPTYPE"
        bad = data.replace(marker, marker[:-2] + b"\xff\xfe")  # same length: offsets stay valid
        (tmp_path / f"{field}.walle").write_bytes(bad)
        cases[field] = (tmp_path / f"{field}.walle", {"x": np.ones(2, np.float32)}, {})
    results, proc = run_isolated(cases, tmp_path)
    assert_all_raise(results, proc, cases, "ModelError", {c: ["UTF-8", f"{c}.walle"] for c in cases})


@pytest.mark.parametrize("float_type", [FLOAT])
def test_planner_errors_name_the_file(tmp_path, float_type):
    """An inconsistent graph found while planning (Add of [2] and [3]) is a ModelError
    naming the file, not a bare walle.Error."""
    path = write_model(tmp_path / "add.walle", [NodeSpec("Add", "hostile_node", ["x", "w"], ["y"])],
                       [value("x", [2], float_type)], [value("y", [2], float_type)],
                       [const("w", np.ones(3, np.float32))])
    results, proc = run_isolated({"add": (path, None, {})}, tmp_path)
    assert_all_raise(results, proc, ["add"], "ModelError", {"add": ["hostile_node", "add.walle", "broadcast"]})


# --- found by tests/fuzz/fuzz_model (UBSan: signed overflow while planning) ---

@pytest.mark.parametrize("field, attrs", [
    ("dilations", {"dilations": [2**63 - 1, 2], "pads": [2, 1, 0, 2], "strides": [2, 2]}),
    ("pads", {"pads": [2**62, 0, 0, 0]}),
    ("strides", {"strides": [0, 1]}),
])
def test_conv_window_attributes_out_of_range(tmp_path, field, attrs):
    path = write_model(tmp_path / "conv.walle", [NodeSpec("Conv", "hostile_node", ["x", "w"], ["y"], attrs)],
                       [value("x", [1, 4, 19, 19])], [value("y", [-1, -1, -1, -1])],
                       [const("w", np.ones((6, 4, 3, 3), np.float32))])
    results, proc = run_isolated({"conv": (path, None, {})}, tmp_path)
    assert_all_raise(results, proc, ["conv"], "ModelError", {"conv": ["hostile_node", field, "conv.walle"]})


def test_pool_kernel_shape_out_of_range(tmp_path):
    path = write_model(tmp_path / "pool.walle",
                       [NodeSpec("MaxPool", "hostile_node", ["x"], ["y"], {"kernel_shape": [-(2**63), 2]})],
                       [value("x", [1, 4, 19, 19])], [value("y", [-1, -1, -1, -1])])
    results, proc = run_isolated({"pool": (path, None, {})}, tmp_path)
    assert_all_raise(results, proc, ["pool"], "ModelError", {"pool": ["hostile_node", "kernel_shape", "pool.walle"]})


def test_plans_past_the_memory_limit_are_named_errors(tmp_path):
    """Issue 24, the fuzzer's out-of-memory findings: a model that folds a 4 TiB constant
    (ConstantOfShape [2^20, 2^20]) exhausted the machine; one whose intermediate tensors pass
    walle.load(memory_limit=) must fail at load naming the sizes, and a fitting one still runs."""
    big = write_model(tmp_path / "fill.walle", [NodeSpec("ConstantOfShape", "hostile_node", ["s"], ["y"])],
                      [], [value("y", [-1, -1])], [const("s", np.array([2**20, 2**20], np.int64))])
    relu = write_model(tmp_path / "relu.walle", [NodeSpec("Relu", "r", ["x"], ["h"]), NodeSpec("Exp", "e", ["h"], ["y"])],
                       [value("x", [1024, 1024])], [value("y", [1024, 1024])])
    feed = {"x": np.ones((1024, 1024), np.float32)}
    cases = {"fold": (big, None, {}), "arena": (relu, None, {"memory_limit": 6 << 20}),
             "fits": (relu, feed, {"memory_limit": 64 << 20}), "negative": (relu, None, {"memory_limit": -1})}
    results, proc = run_isolated(cases, tmp_path, timeout=120, memory_limit=8 << 30)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert results["fold"]["error"] == "ModelError", results["fold"]
    assert "hostile_node" in results["fold"]["message"] and "memory limit" in results["fold"]["message"]
    assert results["arena"]["error"] == "ModelError", results["arena"]
    # 4 MiB of intermediate tensor and 4 MiB of output: each fits 6 MiB, the plan does not
    assert "past its memory limit of 6291456 bytes" in results["arena"]["message"], results["arena"]
    assert results["fits"]["error"] is None, results["fits"]
    assert results["negative"]["error"] == "InputError" and "memory_limit" in results["negative"]["message"]


def test_an_op_with_an_empty_output_does_no_work(tmp_path):
    """Issue 24, the fuzzer's slow units: Softmax over an empty last axis of 2^40 rows planned an
    empty output, yet its kernel walked all 2^40 rows (hours). Ops with empty outputs are skipped;
    here the decomposition's row maxima ([2^40, 1], 4 TiB, fused away later) may also be refused
    by the memory limit: either way the answer comes at once."""
    path = write_model(tmp_path / "softmax.walle", [NodeSpec("Softmax", "s", ["x"], ["y"], {"axis": -1})],
                       [value("x", [-1, 0])], [value("y", [-1, 0])])
    feed = {"x": np.zeros((2**40, 0), np.float32)}
    results, proc = run_isolated({"empty": (path, feed, {})}, tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert results["empty"]["error"] in (None, "InputError"), results


def test_copy_bookkeeping_counts_against_the_memory_limit(tmp_path):
    """Issue 24, fuzzer out-of-memory findings: a transpose over many tiny rows built one copy
    region per row (6 GiB of regions for a 240 MB tensor) before any size check. Regions are
    now counted first and are plan memory like the tensors."""
    path = write_model(tmp_path / "t.walle", [NodeSpec("Transpose", "hostile_node", ["x"], ["y"], {"perm": [4, 3, 2, 1, 0]})],
                       [value("x", [2, 2, 2, 64, 64])], [value("y", [64, 64, 2, 2, 2])])
    x = np.arange(64 * 64 * 8, dtype=np.float32).reshape(2, 2, 2, 64, 64)
    cases = {"limited": (path, None, {"memory_limit": 256 << 10}), "fits": (path, {"x": x}, {})}
    results, proc = run_isolated(cases, tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert results["limited"]["error"] == "ModelError", results["limited"]
    assert "hostile_node" in results["limited"]["message"] and "regions" in results["limited"]["message"]
    assert results["fits"]["error"] is None, results["fits"]
