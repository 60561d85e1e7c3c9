"""Bad input gets a clear walle error naming the problem, never a crash."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import walle
from onnx import helper, numpy_helper
from walle.converters.onnx.writer import GraphSpec, NodeSpec, TensorValue, ValueSpec, serialize


def _relu_model(path, shape=(2, 3)):
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], "g",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, list(shape))])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


@pytest.fixture()
def good_model(tmp_path):
    rng = np.random.default_rng(0)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 8])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2, 4])],
        [numpy_helper.from_array(rng.standard_normal((8, 4)).astype(np.float32), "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "good.onnx")
    walle.convert(tmp_path / "good.onnx", tmp_path / "good.walle")
    return tmp_path / "good.walle"


def test_truncated_file(good_model, tmp_path):
    data = good_model.read_bytes()
    for cut in (0, 7, 100, len(data) // 2, len(data) - 1):
        bad = tmp_path / f"cut{cut}.walle"
        bad.write_bytes(data[:cut])
        with pytest.raises(walle.ModelError, match="empty|truncated|identifier"):
            walle.load(bad)


def test_corrupted_bytes_never_crash(good_model, tmp_path):
    """Random byte flips over the FlatBuffers tables: each load either fails cleanly or, when
    a flip only touched weight bytes, loads."""
    data = bytearray(good_model.read_bytes())
    rng = np.random.default_rng(1)
    failures = 0
    for i in range(200):
        bad = bytearray(data)
        for pos in rng.integers(0, len(bad), 4):
            bad[pos] = int(rng.integers(0, 256))
        path = tmp_path / f"flip{i}.walle"
        path.write_bytes(bad)
        try:
            walle.load(path).run({"x": np.ones((2, 8), np.float32)})
        except walle.Error:
            failures += 1
    assert failures > 0


def test_not_a_walle_file(tmp_path):
    path = tmp_path / "model.walle"
    path.write_bytes(b"\x00" * 4 + b"ONNX" + b"\x00" * 100)
    with pytest.raises(walle.ModelError, match="not a Walle model"):
        walle.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(walle.ModelError, match="cannot open"):
        walle.load(tmp_path / "nope.walle")


def _write(graph: GraphSpec, path, **changes) -> None:
    path.write_bytes(serialize(graph, "test"))


def test_hostile_tensor_size(tmp_path):
    """A tensor whose declared shape needs more bytes than it holds is refused."""
    spec = GraphSpec([ValueSpec("x", 1, [4], [""])], [ValueSpec("y", 1, [4], [""])],
                     [TensorValue("w", np.zeros(4, np.float32))], [NodeSpec("Add", "add", ["x", "w"], ["y"])])
    data = bytearray(serialize(spec, "test"))
    # Change the 4-element dims of "w" to a huge value by rewriting its dims vector entry.
    needle = np.array([4], np.int64).tobytes()
    pos = data.rfind(needle)
    data[pos:pos + 8] = np.array([1 << 30], np.int64).tobytes()
    (tmp_path / "hostile.walle").write_bytes(bytes(data))
    with pytest.raises(walle.ModelError, match="bytes"):
        walle.load(tmp_path / "hostile.walle")


def test_undefined_value(tmp_path):
    spec = GraphSpec([ValueSpec("x", 1, [4], [""])], [ValueSpec("y", 1, [4], [""])], [],
                     [NodeSpec("Add", "add", ["x", "ghost"], ["y"])])
    (tmp_path / "m.walle").write_bytes(serialize(spec, "test"))
    with pytest.raises(walle.ModelError, match="ghost"):
        walle.load(tmp_path / "m.walle")


def test_wrong_format_version(good_model, tmp_path, monkeypatch):
    from walle.converters.onnx import writer

    monkeypatch.setattr(writer, "FORMAT_VERSION", 99)
    spec = GraphSpec([ValueSpec("x", 1, [4], [""])], [ValueSpec("y", 1, [4], [""])], [],
                     [NodeSpec("Relu", "r", ["x"], ["y"])])
    (tmp_path / "v99.walle").write_bytes(writer.serialize(spec, "test"))
    with pytest.raises(walle.ModelError, match="format version 99"):
        walle.load(tmp_path / "v99.walle")


def test_unknown_ops_are_all_listed_before_writing(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["a"], name="ok"),
         helper.make_node("FancyOp", ["a"], ["b"], name="fancy1"),
         helper.make_node("FancyOp", ["b"], ["c"], name="fancy2"),
         helper.make_node("Frobnicate", ["c"], ["y"], name="frob", domain="com.example")],
        "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    onnx.save(model, tmp_path / "m.onnx")
    with pytest.raises(walle.UnsupportedOpError) as info:
        walle.convert(tmp_path / "m.onnx", tmp_path / "m.walle")
    message = str(info.value)
    assert "FancyOp" in message and "'fancy1'" in message and "'fancy2'" in message
    assert "com.example.Frobnicate" in message and "'frob'" in message
    assert not (tmp_path / "m.walle").exists()


def test_corrupt_onnx_file(tmp_path):
    (tmp_path / "bad.onnx").write_bytes(b"\xff\xfe not protobuf" * 10)
    with pytest.raises(walle.ConversionError, match="bad.onnx"):
        walle.convert(tmp_path / "bad.onnx", tmp_path / "out.walle")


@pytest.fixture()
def relu_session(tmp_path):
    _relu_model(tmp_path / "r.onnx")
    walle.convert(tmp_path / "r.onnx", tmp_path / "r.walle")
    return walle.load(tmp_path / "r.walle")


def test_wrong_input_name(relu_session):
    with pytest.raises(walle.InputError, match=r"unknown input name\(s\) \['z'\].*\['x'\]"):
        relu_session.run({"z": np.zeros((2, 3), np.float32)})


def test_missing_input(relu_session):
    with pytest.raises(walle.InputError, match="missing"):
        relu_session.run({})


def test_wrong_input_shape(relu_session):
    with pytest.raises(walle.InputError, match=r"input 'x': expected shape \[2, 3\], got \[3, 2\]"):
        relu_session.run({"x": np.zeros((3, 2), np.float32)})


def test_wrong_input_rank(relu_session):
    with pytest.raises(walle.InputError, match="input 'x': expected shape"):
        relu_session.run({"x": np.zeros((6,), np.float32)})


def test_wrong_input_dtype(relu_session):
    with pytest.raises(walle.InputError, match="input 'x': expected dtype float32, got float64"):
        relu_session.run({"x": np.zeros((2, 3), np.float64)})


def test_wrong_input_count(relu_session):
    with pytest.raises(walle.InputError, match="expected 1 inputs"):
        relu_session.run([np.zeros((2, 3), np.float32)] * 2)


def test_out_of_range_gather_index_at_run_time(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "i"], ["y"], name="lookup")], "g",
        [helper.make_tensor_value_info("i", onnx.TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2, 3])],
        [numpy_helper.from_array(np.zeros((5, 3), np.float32), "table")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "g.onnx")
    walle.convert(tmp_path / "g.onnx", tmp_path / "g.walle")
    session = walle.load(tmp_path / "g.walle")
    with pytest.raises(walle.InputError, match="Gather 'lookup': index 7 is out of range"):
        session.run({"i": np.array([1, 7], np.int64)})
    assert session.run({"i": np.array([1, -1], np.int64)})["y"].shape == (2, 3)


def test_bad_threads(relu_session):
    with pytest.raises(walle.InputError, match="threads"):
        walle.load(relu_session.path, threads=0)


def test_unknown_backend(relu_session):
    with pytest.raises(walle.BackendError, match="unknown backend 'tpu'"):
        walle.load(relu_session.path, backend="tpu")
