"""Malformed ONNX models the converter once crashed on or mis-reported (issue 24): each is now
a ConversionError naming the model, and the converter never writes a file its loader
refuses. Conversions that could crash run in a child process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import onnx
import pytest
import walle
from onnx import TensorProto, helper, numpy_helper


def _save(tmp_path, nodes, inputs, outputs, initializers=(), name="m.onnx", ml=False):
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid("ai.onnx.ml", 4)] if ml else [])
    model = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, list(initializers)), opset_imports=opsets)
    path = tmp_path / name
    onnx.save(model, path)
    return path


def test_onnx_shape_inference_crash_is_a_conversion_error(tmp_path):
    """onnx's shape inference dies with SIGSEGV on a LabelEncoder reading an undefined value;
    the converter runs it in a guarded worker, so the caller gets a ConversionError."""
    src = _save(tmp_path, [helper.make_node("LabelEncoder", ["x"], ["y"], domain="ai.onnx.ml", name="le",
                                            keys_int64s=[1], values_int64s=[2])],
                [], [helper.make_tensor_value_info("y", TensorProto.INT64, None)], ml=True)
    good = _save(tmp_path, [helper.make_node("Relu", ["x"], ["y"])],
                 [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])], name="good.onnx")
    code = textwrap.dedent(f"""
        import numpy as np, walle
        for attempt in range(2):  # the worker is replaced after a crash
            try:
                walle.convert({str(src)!r}, {str(tmp_path / "m.walle")!r})
                print("converted")
            except walle.ConversionError as e:
                print("ConversionError:", e)
        walle.convert({str(good)!r}, {str(tmp_path / "good.walle")!r})  # and conversion goes on
        print(walle.load({str(tmp_path / "good.walle")!r}).run({{"x": np.array([-1, 0, 2], np.float32)}})["y"].tolist())
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"converter process died ({proc.returncode}): {proc.stderr[-2000:]}"
    lines = proc.stdout.splitlines()
    assert len(lines) == 3 and all(line.startswith("ConversionError:") and str(src) in line for line in lines[:2]), lines
    assert lines[2] == "[0.0, 0.0, 2.0]"
    assert not (tmp_path / "m.walle").exists()


def test_unknown_dtype_is_a_conversion_error(tmp_path):
    w = numpy_helper.from_array(np.ones(2, np.float32), "w")
    w.data_type = 99
    src = _save(tmp_path, [helper.make_node("Add", ["x", "w"], ["y"])],
                [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])], [w])
    with pytest.raises(walle.ConversionError, match="unknown type code 99"):
        walle.convert(src, tmp_path / "m.walle")
    src = _save(tmp_path, [helper.make_node("Relu", ["x"], ["y"])],
                [helper.make_tensor_value_info("x", 99, [2])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])], name="input.onnx")
    with pytest.raises(walle.ConversionError, match="input.onnx.*unknown type code 99"):
        walle.convert(src, tmp_path / "m.walle")


def test_short_batchnorm_is_a_conversion_error(tmp_path):
    w = numpy_helper.from_array(np.ones((2, 1, 1, 1), np.float32), "w")
    s = numpy_helper.from_array(np.ones(2, np.float32), "s")
    src = _save(tmp_path, [helper.make_node("Conv", ["x", "w"], ["c"]),
                           helper.make_node("BatchNormalization", ["c", "s", "s"], ["y"], name="bn")],
                [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 2])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 2, 2])], [w, s])
    with pytest.raises(walle.ConversionError, match="m.onnx.*BatchNormalization 'bn'.*needs 5"):
        walle.convert(src, tmp_path / "m.walle")


def _nested_if(depth: int) -> onnx.GraphProto:
    """An If whose then-branch is an If ... `depth` deep, the innermost returning x + 1."""
    leaf = helper.make_graph([helper.make_node("Add", ["x", "one"], ["r0"])], "leaf", [],
                             [helper.make_tensor_value_info("r0", TensorProto.FLOAT, [1])])
    inner = leaf
    for level in range(1, depth + 1):  # the else-branch stays a leaf: the model grows linearly
        out = f"r{level}"
        node = helper.make_node("If", ["cond"], [out], then_branch=inner, else_branch=leaf, name=f"if{level}")
        inner = helper.make_graph([node], f"level{level}", [], [helper.make_tensor_value_info(out, TensorProto.FLOAT, [1])])
    return inner


@pytest.mark.parametrize("depth, loads", [(8, True), (25, False)])
def test_nested_if_never_writes_an_unloadable_file(tmp_path, depth, loads):
    g = _nested_if(depth)
    graph = helper.make_graph(list(g.node), "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1]),
                                                   helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
                              list(g.output), [numpy_helper.from_array(np.ones(1, np.float32), "one")])
    src = tmp_path / "nested.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), src)
    dst = tmp_path / "nested.walle"
    if loads:
        walle.convert(src, dst)
        out = walle.load(dst).run({"x": np.array([2], np.float32), "cond": np.array(True)})
        np.testing.assert_array_equal(next(iter(out.values())), [3])
    else:
        with pytest.raises(walle.ConversionError, match="nested.onnx.*nested more than"):
            walle.convert(src, dst)
        assert not dst.exists()


def test_conversion_works_where_no_child_process_can_start(tmp_path, monkeypatch):
    """Under qemu-user without binfmt (the aarch64 wheel's check) the interpreter cannot start
    itself: shape inference then runs in-process, with a warning saying it is unguarded."""
    from walle.converters.onnx import inference

    def no_exec(*args, **kwargs):
        raise OSError(8, "Exec format error")

    monkeypatch.setattr(inference, "_worker", None)
    monkeypatch.setattr(inference.subprocess, "Popen", no_exec)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    path = _save(tmp_path, [helper.make_node("Relu", ["x"], ["y"])], [x], [y])
    with pytest.warns(RuntimeWarning, match="unguarded"):
        walle.convert(str(path), str(tmp_path / "m.walle"))
    data = np.array([[-1, 0, 1], [2, -3, np.nan]], np.float32)
    out = walle.load(str(tmp_path / "m.walle")).run({"x": data})["y"]
    np.testing.assert_array_equal(out, np.maximum(data, 0))
