"""Session behaviour: input forms, dynamic shapes, concurrency, plan(), walle.Tensor."""

from __future__ import annotations

import sys
import threading

import numpy as np
import onnx
import pytest
import walle
from onnx import helper, numpy_helper


def _mlp(path, batch="N"):
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((16, 32)).astype(np.float32)
    w2 = rng.standard_normal((32, 4)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("MatMul", ["r", "w2"], ["y"]), helper.make_node("Shape", ["x"], ["s"])],
        "mlp", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [batch, 16])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [batch, 4]),
         helper.make_tensor_value_info("s", onnx.TensorProto.INT64, [2])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return lambda x: (np.maximum(x @ w1, 0) @ w2, np.array(x.shape, np.int64))


@pytest.fixture()
def mlp(tmp_path):
    ref = _mlp(tmp_path / "mlp.onnx")
    walle.convert(tmp_path / "mlp.onnx", tmp_path / "mlp.walle")
    return tmp_path / "mlp.walle", ref


def test_info(mlp):
    session = walle.load(mlp[0])
    assert session.inputs == [walle.TensorInfo("x", "float32", ("N", 16))]
    assert [o.name for o in session.outputs] == ["y", "s"]


def test_dynamic_shapes_replan(mlp):
    path, ref = mlp
    session = walle.load(path, threads=2)
    for batch in (1, 5, 3, 5, 1):
        x = np.random.default_rng(batch).standard_normal((batch, 16)).astype(np.float32)
        out = session.run({"x": x})
        want_y, want_s = ref(x)
        np.testing.assert_allclose(out["y"], want_y, rtol=1e-4, atol=1e-4)
        np.testing.assert_array_equal(out["s"], want_s)


def test_weights_released_after_packing_are_read_again(tmp_path):
    """Planning gives the mapped pages of packed weights back to the OS (Model::release_pages).
    Re-planning for a new shape packs from those pages again, a second session loads the same
    file, and a table a kernel reads at run time (Gather's) is refetched: all still exact."""
    rng = np.random.default_rng(1)
    table = rng.standard_normal((512, 64)).astype(np.float32)   # 128 KiB: whole pages
    w = rng.standard_normal((64, 256)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "ids"], ["e"]), helper.make_node("MatMul", ["e", "w"], ["y"])],
        "g", [helper.make_tensor_value_info("ids", onnx.TensorProto.INT64, ["N"])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 256])],
        [numpy_helper.from_array(table, "table"), numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    walle.convert(tmp_path / "m.onnx", tmp_path / "m.walle")
    sessions = [walle.load(tmp_path / "m.walle"), walle.load(tmp_path / "m.walle")]
    for n in (3, 40, 3):
        for session in sessions:
            ids = rng.integers(0, 512, n)
            np.testing.assert_allclose(session.run({"ids": ids})["y"], table[ids] @ w, rtol=1e-5, atol=1e-4)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the mapping's RSS from /proc/self/smaps")
def test_packed_weights_leave_memory(tmp_path):
    """After planning, the mapped pages of a weight the kernel packed are no longer resident."""
    w = np.random.default_rng(2).standard_normal((256, 256)).astype(np.float32)  # 256 KiB
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [4, 256])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [4, 256])], [numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    walle.convert(tmp_path / "m.onnx", tmp_path / "m.walle")
    session = walle.load(tmp_path / "m.walle")
    x = np.ones((4, 256), np.float32)
    np.testing.assert_allclose(session.run({"x": x})["y"], x @ w, rtol=1e-5, atol=1e-4)
    (rss,) = _mapping_rss_kib(tmp_path / "m.walle")
    assert rss < 64, rss  # KiB: the 256 KiB weight is gone, the model's header pages may stay


def _mapping_rss_kib(path) -> list[int]:
    """Rss of each mapping of `path` in this process (/proc/self/smaps)."""
    rss, current = [], False
    with open("/proc/self/smaps") as f:
        for line in f:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5:  # a mapping's header line
                current = fields[-1] == str(path)
            elif current and fields[0] == "Rss:":
                rss.append(int(fields[1]))
    return rss


def test_input_forms(mlp):
    path, _ref = mlp
    session = walle.load(path)
    x = np.ones((2, 16), np.float32)
    by_name = session.run({"x": x})["y"]
    np.testing.assert_array_equal(session.run([x])["y"], by_name)
    np.testing.assert_array_equal(session.run(x)["y"], by_name)
    y, _shape = session(x)
    np.testing.assert_array_equal(y, by_name)
    np.testing.assert_array_equal(session.run({"x": walle.Tensor(x)})["y"], by_name)


def test_non_contiguous_input_is_accepted(mlp):
    path, ref = mlp
    x = np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32).T  # a transposed view
    np.testing.assert_allclose(walle.load(path).run({"x": x})["y"], ref(x)[0], rtol=1e-4, atol=1e-4)


def test_two_sessions_two_threads(mlp):
    """Sessions run concurrently from Python threads (the GIL is released) with correct results."""
    path, ref = mlp
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        try:
            session = walle.load(path, threads=1)
            rng = np.random.default_rng(seed)
            for _ in range(50):
                x = rng.standard_normal((int(rng.integers(1, 9)), 16)).astype(np.float32)
                np.testing.assert_allclose(session.run({"x": x})["y"], ref(x)[0], rtol=1e-4, atol=1e-4)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors


def test_one_session_shared_by_threads(mlp):
    path, ref = mlp
    session = walle.load(path, threads=2)
    results: dict[int, np.ndarray] = {}

    def worker(i: int) -> None:
        x = np.full((3, 16), float(i), np.float32)
        for _ in range(20):
            results[i] = session.run({"x": x})["y"]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for i, y in results.items():
        np.testing.assert_allclose(y, ref(np.full((3, 16), float(i), np.float32))[0], rtol=1e-4, atol=1e-3)


def test_plan_reports_kernels(mlp):
    session = walle.load(mlp[0])
    session.run({"x": np.ones((2, 16), np.float32)})
    rows = session.plan()
    assert [r["op"] for r in rows] == ["MatMul", "MatMul"]  # Relu fused into the first
    best = walle._walle.detected_isa() if hasattr(walle, "_walle") else None
    from walle import _walle

    assert all(_walle.detected_isa() in r["kernel"] or _walle.detected_isa() == "reference" for r in rows), (rows, best)
    assert rows[0]["macs"] == 2 * 16 * 32


def test_tensor_buffer_protocol():
    x = np.arange(6, dtype=np.int32).reshape(2, 3)
    t = walle.Tensor(x)
    assert t.shape == (2, 3) and t.dtype == "int32"
    assert t.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert memoryview(t).format == "i"
    np.testing.assert_array_equal(np.asarray(t), x)
    x[0, 0] = 100  # the tensor owns a copy
    assert t.tolist()[0][0] == 0


def test_backends():
    assert "cpu" in walle.backends() and "cpu-reference" in walle.backends()


def test_backend_info_pickles():
    import pickle

    for info in walle.backends(include_missing=True):
        copy = pickle.loads(pickle.dumps(info))
        assert copy == info and (copy.built, copy.available, copy.device, copy.reason) == (
            info.built, info.available, info.device, info.reason)
