"""The semi-auto search agrees with measurement: in tune mode the assignment it picks runs at
least as fast as every single-backend assignment, and plan() shows why (each op's backend,
algorithm, estimate, measurement and every backend's cost)."""

from __future__ import annotations

import time

import numpy as np
import onnx
import pytest
import walle
from onnx import TensorProto, helper, numpy_helper

DEVICES = [str(b) for b in walle.backends() if b.available and str(b) not in ("cpu", "cpu-reference")]


def conv_net(path) -> dict[str, np.ndarray]:
    """Conv -> Relu -> GlobalAveragePool -> Flatten -> Gemm: one heavy op, then light ones."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((32, 16, 3, 3)).astype(np.float32) * 0.1
    fc = rng.standard_normal((10, 32)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "fc"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "net", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 48, 48])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(fc, "fc")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path.with_suffix(".onnx"))
    walle.convert(path.with_suffix(".onnx"), path)
    return {"x": rng.standard_normal((1, 16, 48, 48)).astype(np.float32)}


def median_ms(sessions: dict, feed, reps: int = 9) -> dict[str, float]:
    """Median ms per session, timed round-robin: load from other processes on a shared machine
    then hits every session alike instead of whichever happened to run during a busy spell."""
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for s in sessions.values():
        s.run(feed)
    for _ in range(reps):
        for name, s in sessions.items():
            t0 = time.perf_counter()
            s.run(feed)
            times[name].append(time.perf_counter() - t0)
    return {name: 1e3 * float(np.median(t)) for name, t in times.items()}


@pytest.mark.skipif(not DEVICES, reason="no device backend usable here (needs PoCL, lavapipe or a GPU)")
def test_tune_picks_the_measured_fastest(tmp_path):
    path = tmp_path / "net.walle"
    feed = conv_net(path)
    # The portable reference CPU kernels make the backends differ clearly: the devices (PoCL's
    # and lavapipe's vectorized code) win the convolution, the CPU the tiny tail ops.
    tuned = walle.load(path, backend="auto", mode="tune", isa="reference")
    want = walle.load(path).run(feed)["y"]
    np.testing.assert_allclose(tuned.run(feed)["y"], want, rtol=1e-3, atol=1e-4)
    plan = tuned.plan()
    for row in plan:
        if row["op"] == "Copy":
            continue
        assert row["measured_us"] >= 0 and row["estimate_us"] >= 0, row
        assert "measured" in row["candidates"], row
        for d in DEVICES:  # every backend was measured or said why not
            assert f"{d}" in row["candidates"], row
    sessions = {"cpu": walle.load(path, isa="reference")}
    sessions.update({d: walle.load(path, backend=d) for d in DEVICES})
    sessions["auto"] = tuned
    times = median_ms(sessions, feed)
    auto_ms = times.pop("auto")
    best = min(times.values())
    print(f"tuned auto {auto_ms:.2f} ms vs {times}; plan: {[(r['op'], r['backend'], r['algorithm']) for r in plan]}")
    # Timing noise on a shared 2-core machine (and work-group variants measured under it):
    # within 30% (+0.5 ms) of the best single backend.
    assert auto_ms <= 1.3 * best + 0.5, (auto_ms, times)
    # The tuned plan runs the convolution where its measurement was lowest.
    conv = next(r for r in plan if r["op"] == "Conv")
    measured = {}
    for part in conv["candidates"].split(" | "):
        name = part.split("[")[0].split(":")[0]
        if "measured " in part:
            measured[name] = float(part.split("measured ")[1].rstrip("us"))
    assert conv["backend"] == min(measured, key=measured.get), conv


@pytest.mark.skipif(not DEVICES, reason="no device backend usable here")
def test_estimate_mode_explains_every_op(tmp_path):
    path = tmp_path / "net.walle"
    feed = conv_net(path)
    session = walle.load(path, backend="auto")
    np.testing.assert_allclose(session.run(feed)["y"], walle.load(path).run(feed)["y"], rtol=1e-3, atol=1e-4)
    for row in session.plan():
        assert row["backend"] in ["cpu", *DEVICES] or "->" in row["backend"]
        if row["op"] != "Copy":
            assert row["estimate_us"] > 0 and row["candidates"].startswith("cpu")


def test_calibration_is_cached_on_disk(tmp_path, monkeypatch):
    if not DEVICES:
        pytest.skip("no device backend usable here")
    monkeypatch.setenv("WALLE_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "net.walle"
    conv_net(path)
    walle.load(path, backend=DEVICES[0])
    lines = (tmp_path / "cache" / "calibration.txt").read_text().splitlines()
    assert any(line.startswith(DEVICES[0] + ":") for line in lines)
    walle.load(path, backend=DEVICES[0])  # second load reuses, adds nothing
    assert (tmp_path / "cache" / "calibration.txt").read_text().splitlines() == lines


@pytest.mark.skipif(not DEVICES, reason="no device backend usable here (needs PoCL, lavapipe or a GPU)")
def test_auto_runs_a_host_only_graph_as_the_cpu_backend_does(tmp_path):
    """Where the search places every op on the CPU, "auto" must run the CPU's own plan: before,
    it ran the plain NCHW kernels without the channel-blocked rewrite, 1.2-1.6x slower than
    backend="cpu" on the benchmark CNNs. Two 3x3 convolutions with 32 channels are a blocked
    chain on the CPU, and the CPU's estimate beats PoCL's and lavapipe's for every op."""
    rng = np.random.default_rng(1)
    w1 = rng.standard_normal((32, 32, 3, 3)).astype(np.float32) * 0.1
    w2 = rng.standard_normal((32, 32, 3, 3)).astype(np.float32) * 0.1
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2"], ["y"], pads=[1, 1, 1, 1])]
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32, 28, 28])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 32, 28, 28])],
                              [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "chain.onnx")
    walle.convert(tmp_path / "chain.onnx", tmp_path / "chain.walle")
    feed = {"x": rng.standard_normal((1, 32, 28, 28)).astype(np.float32)}
    cpu = walle.load(tmp_path / "chain.walle", backend="cpu")
    auto = walle.load(tmp_path / "chain.walle", backend="auto")
    np.testing.assert_allclose(auto.run(feed)["y"], cpu.run(feed)["y"], rtol=1e-4, atol=1e-4)
    cpu_kernels = [row["kernel"] for row in cpu.plan()]
    assert any("blocked" in k for k in cpu_kernels), cpu_kernels  # the CPU plan does block the chain
    assert [row["backend"] for row in auto.plan()] == ["cpu"] * len(cpu_kernels)
    assert [row["kernel"] for row in auto.plan()] == cpu_kernels
