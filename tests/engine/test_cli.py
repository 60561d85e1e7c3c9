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


def _conv_net(path):
    """A stem (7x7 stride 2, 3 channels), a 3x3 and a 1x1 convolution with 32 channels."""
    rng = np.random.default_rng(2)
    ws = {"w1": (32, 3, 7, 7), "w2": (32, 32, 3, 3), "w3": (32, 32, 1, 1)}
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], strides=[2, 2], pads=[3, 3, 3, 3]),
             helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("Conv", ["b", "w2"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["c", "w3"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 32, 32])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 32, 16, 16])],
                              [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n)
                               for n, s in ws.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def test_plan_why_explains_every_convolution(tmp_path):
    """Issue 23: on the CPU as on several backends, `walle plan --why` names each convolution's
    variant (algorithm), layout and estimate, and lists the variants it chose among. Before,
    a CPU plan showed only the kernel (algorithm '' and estimate -1 in plan())."""
    _conv_net(tmp_path / "m.onnx")
    walle_cli("convert", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "m.walle"))
    r = walle_cli("plan", str(tmp_path / "m.walle"), "--why")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    convs = [(line, lines[i + 1]) for i, line in enumerate(lines) if line.startswith("Conv ")]
    assert len(convs) == 3, r.stdout
    for line, why in convs:
        _, backend, algorithm, layout, est, value = line.split()[:6]
        assert backend == "cpu" and algorithm != "-", line
        assert layout in ("nchw", "blocked", "nchw->blocked", "blocked->nchw"), line
        assert est == "est" and float(value.removesuffix("us")) > 0, line
        assert why.strip().startswith("why: cpu[") and "variants" in why and algorithm in why, why


def test_plan_force(tmp_path):
    _conv_net(tmp_path / "m.onnx")
    walle_cli("convert", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "m.walle"))
    r = walle_cli("plan", str(tmp_path / "m.walle"), "--force", "layout=nchw", "--force", "Conv=im2col")
    assert r.returncode == 0, r.stderr
    convs = [line.split() for line in r.stdout.splitlines() if line.startswith("Conv ")]
    assert [c[2:4] for c in convs] == [["im2col", "nchw"]] * 3, r.stdout
    r = walle_cli("plan", str(tmp_path / "m.walle"), "--force", "Conv=winograd-f99")
    assert r.returncode == 1 and "force Conv='winograd-f99': no Conv of this model can run that way" in r.stderr
    r = walle_cli("plan", str(tmp_path / "m.walle"), "--force", "Conv")
    assert r.returncode == 1 and "expected KIND=VARIANT" in r.stderr
