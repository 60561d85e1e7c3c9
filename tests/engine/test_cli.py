"""The walle command, as a user runs it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper


def walle_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "walle", *args], capture_output=True, text=True, timeout=300, check=False)


def _model(path):
    w = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Softmax", ["h"], ["y"])], "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 8])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2, 3])], [numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return w


def test_help():
    for cmd in ([], ["convert"], ["run"], ["info"], ["bench"], ["plan"]):
        r = walle_cli(*cmd, "--help")
        assert r.returncode == 0 and "usage: walle" in r.stdout


def test_convert_run_info_bench(tmp_path):
    w = _model(tmp_path / "m.onnx")
    r = walle_cli("convert", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "m.walle"))
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout and (tmp_path / "m.walle").exists()

    x = np.random.default_rng(1).standard_normal((2, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    r = walle_cli("run", str(tmp_path / "m.walle"), "--input", f"x={tmp_path / 'x.npy'}", "--save", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "y: shape (2, 3) dtype float32" in r.stdout
    h = x @ w
    e = np.exp(h - h.max(1, keepdims=True))
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), e / e.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)

    r = walle_cli("run", str(tmp_path / "m.walle"))  # random inputs
    assert r.returncode == 0 and "y: shape (2, 3)" in r.stdout

    r = walle_cli("info", str(tmp_path / "m.walle"))
    assert r.returncode == 0, r.stderr
    assert "input x: float32 [2, 8]" in r.stdout and "parameters: 24" in r.stdout and "MACs: 48" in r.stdout
    assert "MatMul 1" in r.stdout and "Softmax 1" in r.stdout

    r = walle_cli("bench", str(tmp_path / "m.onnx"), "--threads", "1", "2", "--runs", "3", "--compare", "onnxruntime")
    assert r.returncode == 0, r.stderr
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in r.stdout.splitlines()[2:] if line.startswith("|")]
    assert [(row[1], row[2]) for row in rows] == [("1", "walle"), ("1", "onnxruntime"), ("2", "walle"), ("2", "onnxruntime")]
    assert all(float(row[3]) > 0 and float(row[7]) < 1e-4 for row in rows)  # latency, max abs diff vs ORT

    r = walle_cli("bench", str(tmp_path / "m.walle"), "--runs", "3")
    assert r.returncode == 0 and "walle  threads 1: median" in r.stdout

def test_cli_errors_are_messages_not_tracebacks(tmp_path):
    (tmp_path / "bad.walle").write_bytes(b"garbage" * 3)
    r = walle_cli("run", str(tmp_path / "bad.walle"))
    assert r.returncode == 1
    assert "walle: error: invalid model file" in r.stderr and "Traceback" not in r.stderr


def test_plan_profile(tmp_path):
    _model(tmp_path / "m.onnx")
    walle_cli("convert", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "m.walle"))
    r = walle_cli("plan", str(tmp_path / "m.walle"), "--profile", "3")
    assert r.returncode == 0, r.stderr
    assert " us " in r.stdout and "per run (mean of 3 runs)" in r.stdout
