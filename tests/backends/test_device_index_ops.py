"""Scatter, Gather with run-time indices, TopK, Random (Bernoulli) and the fused softmax/layer norm on each device backend:
the same answer as the CPU backend (integers and indices exactly, seeded draws bit for bit,
floats as the CPU), the op really placed on the device (session.plan()), and where a device
cannot run a case (a dtype it has no arithmetic for, an unseeded draw) the plan says why and
the CPU answers."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import walle
from onnx import helper, numpy_helper

from ..engine.onnx_helpers import with_output_types
from .conftest import DEVICE_BACKENDS, backend_or_skip

rng = np.random.default_rng(23)


def one_node(op: str, operands: list[tuple[str, np.ndarray, bool]], n_out: int = 1, opset: int = 18, **attrs):
    """A one-node model; operands are (name, value, constant) in the node's input order, so an
    index tensor can be an initializer (known when the plan is made) or a graph input."""
    node = helper.make_node(op, [n for n, _, _ in operands], [f"y{i}" for i in range(n_out)], **attrs)
    inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
              for n, v, const in operands if not const]
    inits = [numpy_helper.from_array(np.asarray(v), n) for n, v, const in operands if const]
    graph = helper.make_graph([node], op, inputs, [helper.make_empty_tensor_value_info(f"y{i}") for i in range(n_out)],
                              inits)
    feed = {n: v for n, v, const in operands if not const}
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), feed


def device_session(model, backend, tmp_path):
    """A session of the converted model on `backend` (skipped where it cannot run here)."""
    backend_or_skip(backend)
    onnx.save(with_output_types(model), tmp_path / "m.onnx")
    walle.convert(tmp_path / "m.onnx", tmp_path / "m.walle")
    return walle.load(tmp_path / "m.walle", backend=backend)


def cpu_and_device(model, feed, backend, tmp_path):
    """(CPU outputs, device outputs, device plan) of one converted model."""
    session = device_session(model, backend, tmp_path)
    want = list(walle.load(tmp_path / "m.walle").run(feed).values())
    got = list(session.run(feed).values())
    return want, got, session.plan()


def rows_of(plan, kind):
    rows = [r for r in plan if r["op"] == kind]
    assert rows, f"no {kind} op in the plan: {plan}"
    return rows


def assert_on_device(plan, kind, backend):
    for r in rows_of(plan, kind):
        assert r["backend"] == backend, r


def assert_falls_back(plan, kind, backend, why):
    for r in rows_of(plan, kind):
        assert r["backend"] == "cpu" and f"{backend}: cannot (" in r["candidates"] and why in r["candidates"], r


def assert_same(got, want):
    """Bit-for-bit equality of every output (NaN where the CPU has NaN)."""
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        if w.dtype.kind == "f":
            np.testing.assert_array_equal(np.isnan(g), np.isnan(w))
            np.testing.assert_array_equal(np.nan_to_num(g), np.nan_to_num(w))
        else:
            np.testing.assert_array_equal(g, w)


def values(shape, dtype):
    if np.issubdtype(dtype, np.integer):
        return rng.integers(-40, 50, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


# --- Scatter ---------------------------------------------------------------------------------

SCATTER_DTYPES = [np.float32, np.int32, np.float64, np.int64, np.float16, np.int8]


def device_runs_scatter(backend: str, dtype, reduction: str) -> bool:
    """Which scatters a device takes (the rest must fall back, never run wrong): writes of 4- and
    8-byte elements everywhere, 1 and 2 bytes where the device has small types (not our
    GLSL), reductions on float32 and int32 (the device's arithmetic)."""
    size = np.dtype(dtype).itemsize
    if reduction != "none":
        return dtype in (np.float32, np.int32)
    return size in (4, 8) or backend != "vulkan"


@pytest.mark.parametrize("backend", DEVICE_BACKENDS)
@pytest.mark.parametrize("constant_indices", [False, True], ids=["runtime-idx", "const-idx"])
@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
@pytest.mark.parametrize("dtype", SCATTER_DTYPES, ids=lambda d: np.dtype(d).name)
def test_scatter_nd(dtype, reduction, constant_indices, backend, tmp_path):
    x = values((9, 17), dtype)
    # negative indices, and duplicates: the last write wins (none) or all combine in order
    idx = np.array([[3], [-1], [0], [3], [8], [-9], [3]], np.int64)
    upd = values((len(idx), 17), dtype)
    if dtype == np.float32:
        upd[1, 4] = np.nan  # Max/Min propagate NaN
    model, feed = one_node("ScatterND", [("x", x, False), ("i", idx, constant_indices), ("u", upd, False)],
                           reduction=reduction)
    want, got, plan = cpu_and_device(model, feed, backend, tmp_path)
    assert_same(got, want)
    if device_runs_scatter(backend, dtype, reduction):
        assert_on_device(plan, "Scatter", backend)
    else:
        why = "-byte elements" if reduction == "none" else "Scatter reductions on"
        assert_falls_back(plan, "Scatter", backend, why)


@pytest.mark.parametrize("backend", DEVICE_BACKENDS)
@pytest.mark.parametrize("reduction", ["none", "add", "max"])
@pytest.mark.parametrize("dtype", [np.float32, np.int32], ids=lambda d: np.dtype(d).name)
def test_scatter_elements_many_duplicates(dtype, reduction, backend, tmp_path):
    """ScatterElements: one element per tuple (inner = 1), 600 updates onto 40 rows with
    negative indices: order within each destination decides the answer."""
    x = values((40, 3), dtype)
    idx = rng.integers(-40, 40, (600, 3)).astype(np.int64)
    upd = values((600, 3), dtype)
    model, feed = one_node("ScatterElements", [("x", x, False), ("i", idx, False), ("u", upd, False)],
                           axis=0, reduction=reduction)
    want, got, plan = cpu_and_device(model, feed, backend, tmp_path)
    assert_same(got, want)
    assert_on_device(plan, "Scatter", backend)


@pytest.mark.parametrize("backend", DEVICE_BACKENDS)
def test_scatter_multi_dim_tuples(backend, tmp_path):
    """ScatterND with 2-d tuples into a 3-d tensor (runs of 5), constant and run-time."""
    x = values((4, 6, 5), np.float32)
    idx = np.array([[[1, -1], [3, 0]], [[0, 5], [1, 5]]], np.int64)  # [1,5] twice
    upd = values((2, 2, 5), np.float32)
    for const in (False, True):
        model, feed = one_node("ScatterND", [("x", x, False), ("i", idx, const), ("u", upd, False)], reduction="add")
        want, got, plan = cpu_and_device(model, feed, backend, tmp_path)
        assert_same(got, want)
        assert_on_device(plan, "Scatter", backend)


@pytest.mark.parametrize("backend", DEVICE_BACKENDS)
@pytest.mark.parametrize("bad", [9, -10, 2**32 + 1], ids=["past-end", "before-start", "beyond-int32"])
def test_scatter_bad_runtime_index_is_the_cpu_error(bad, backend, tmp_path):
    """A run-time index out of range is found on the device and reported with the CPU kernel's
    error (the checked plan reruns there); an index that only wraps to a valid int32 is caught."""
    x = np.zeros((9, 2), np.float32)
    idx = np.array([[1], [bad]], np.int64)
    model, feed = one_node("ScatterND", [("x", x, False), ("i", idx, False), ("u", np.ones((2, 2), np.float32), False)])
    session = device_session(model, backend, tmp_path)
    with pytest.raises(walle.Error, match=f"index {bad} is out of range for a dimension of 9"):
        session.run(feed)
    assert_on_device(session.plan(), "Scatter", backend)
    # the session stays usable: good indices run on the device again
    good = dict(feed, i=np.array([[1], [-1]], np.int64))
    np.testing.assert_array_equal(session.run(good)["y0"], np.array([[0, 0]] + [[1, 1]] + [[0, 0]] * 6 + [[1, 1]], np.float32))


@pytest.mark.parametrize("backend", DEVICE_BACKENDS)
def test_scatter_bad_constant_index_stays_on_cpu(backend, tmp_path):
    x = np.zeros((4, 2), np.float32)
    model, feed = one_node("ScatterND", [("x", x, False), ("i", np.array([[4]], np.int64), True),
                                         ("u", np.ones((1, 2), np.float32), False)])
    session = device_session(model, backend, tmp_path)
    with pytest.raises(walle.Error, match="out of range"):
        session.run(feed)
    assert_falls_back(session.plan(), "Scatter", backend, "out of range")


# --- Gather with run-time indices --------------------------------------------------------------


@pytest.mark.parametrize("backend", DEVICE_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.int32], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("idx_dtype", [np.int64, np.int32], ids=lambda d: np.dtype(d).name)
def test_gather_runtime_indices(dtype, idx_dtype, backend, tmp_path):
    """Embedding lookup by input ids (negative ones too) runs on the device, as the CPU does."""
    table = values((50, 3, 4), dtype)
    ids = rng.integers(-50, 50, (2, 7)).astype(idx_dtype)
    model, feed = one_node("Gather", [("t", table, True), ("i", ids, False)], axis=0)
    want, got, plan = cpu_and_device(model, feed, backend, tmp_path)
    assert_same(got, want)
    assert_on_device(plan, "Gather", backend)


@pytest.mark.parametrize("backend", DEVICE_BACKENDS)
@pytest.mark.parametrize("bad", [50, -51, 2**32 + 3], ids=["past-end", "before-start", "beyond-int32"])
def test_gather_bad_runtime_index_is_the_cpu_error(bad, backend, tmp_path):
    """An id out of range is found on the device and reported with the CPU kernel's error; the
    session then keeps running good ids on the device."""
    table = values((50, 4), np.float32)
    model, feed = one_node("Gather", [("t", table, True), ("i", np.array([3, bad], np.int64), False)], axis=0)
    session = device_session(model, backend, tmp_path)
    with pytest.raises(walle.InputError, match="out of range"):
        session.run(feed)
    assert_on_device(session.plan(), "Gather", backend)
    np.testing.assert_array_equal(session.run({"i": np.array([3, -1], np.int64)})["y0"], table[[3, -1]])


# --- TopK ------------------------------------------------------------------------------------


def ties(shape, dtype):
    """Few distinct values (many ties), plus NaN and signed zeros for floats."""
    x = rng.integers(-2, 3, shape).astype(dtype)
    if np.issubdtype(dtype, np.floating):
        flat = x.reshape(-1)
        flat[rng.choice(flat.size, max(1, flat.size // 9), replace=False)] = np.nan
        flat[flat == 0] = np.where(rng.random(int(np.sum(flat == 0))) > 0.5, -0.0, 0.0)
    return x


@pytest.mark.parametrize("backend", DEVICE_BACKENDS)
@pytest.mark.parametrize("largest", [1, 0], ids=["largest", "smallest"])
@pytest.mark.parametrize("shape,axis,k", [((17,), 0, 7), ((3, 7, 2), 1, 1), ((1, 5), -1, 5), ((4, 40), 1, 40),
                                          ((2, 33, 3), 1, 12), ((6, 9), 0, 3), ((3, 4), 1, 0)],
                         ids=["17-k7", "mid-axis-k1", "k=n", "k=n-40", "mid-axis-k12", "axis0", "k0"])
@pytest.mark.parametrize("dtype", [np.float32, np.int32], ids=lambda d: np.dtype(d).name)
def test_topk(dtype, shape, axis, k, largest, backend, tmp_path):
    """Values and indices exactly as the CPU: sorted, ties by lower index, NaN largest; k <= 8
    runs topk-select, larger k topk-rank."""
    x = ties(shape, dtype)
    model, feed = one_node("TopK", [("x", x, False), ("k", np.array([k], np.int64), True)], n_out=2, opset=11,
                           axis=axis, largest=largest)
    want, got, plan = cpu_and_device(model, feed, backend, tmp_path)
    assert_same(got, want)
    assert_on_device(plan, "TopK", backend)
    assert all(r["algorithm"] == ("topk-select" if k <= 8 else "topk-rank") for r in rows_of(plan, "TopK"))


def loop_limited(backend: str) -> bool:
    """True for lavapipe (llvmpipe), whose shaders stop looping after 65535 iterations."""
    info = {str(b): b for b in walle.backends()}
    return backend == "vulkan" and "llvmpipe" in info["vulkan"].device


@pytest.mark.parametrize("backend", DEVICE_BACKENDS)
def test_topk_long_rows(backend, tmp_path):
    """Long rows: k = 20 of 50000 would be 2.5e9 comparisons for topk-rank, so topk-select
    runs (1e6; beyond llvmpipe's loop limit, so CPU there); k = 40000 of 70000 is too much
    for either kernel and stays on the CPU."""
    x = rng.standard_normal((2, 50000)).astype(np.float32)
    model, feed = one_node("TopK", [("x", x, False), ("k", np.array([20], np.int64), True)], n_out=2, opset=11)
    want, got, plan = cpu_and_device(model, feed, backend, tmp_path)
    assert_same(got, want)
    if loop_limited(backend):
        assert_falls_back(plan, "TopK", backend, "this device cuts loops")
    else:
        assert [(r["backend"], r["algorithm"]) for r in rows_of(plan, "TopK")] == [(backend, "topk-select")]
    x = rng.standard_normal((1, 70000)).astype(np.float32)
    model, feed = one_node("TopK", [("x", x, False), ("k", np.array([40000], np.int64), True)], n_out=2, opset=11)
    want, got, plan = cpu_and_device(model, feed, backend, tmp_path)
    assert_same(got, want)
    assert_falls_back(plan, "TopK", backend, "too large for the per-column kernels")


@pytest.mark.parametrize("backend", DEVICE_BACKENDS)
def test_topk_int64_falls_back(backend, tmp_path):
    x = rng.integers(0, 5, (3, 8)).astype(np.int64)
    model, feed = one_node("TopK", [("x", x, False), ("k", np.array([3], np.int64), True)], n_out=2, opset=11)
    want, got, plan = cpu_and_device(model, feed, backend, tmp_path)
    assert_same(got, want)
    assert_falls_back(plan, "TopK", backend, "TopK on int64")


# --- Random ----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", DEVICE_BACKENDS)
@pytest.mark.parametrize("out", [None, 1, 11, 6, 7, 9], ids=["as-p", "f32", "f64", "i32", "i64", "bool"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_bernoulli_is_bit_identical(dtype, out, backend, tmp_path):
    """Seeded Bernoulli on the device: the CPU's (and numpy's) draws exactly, over several
    MT19937 twists (2 draws per element), for every output type the device writes."""
    p = rng.random(1500).astype(dtype)
    p[:10] = [0.0, 0.2, 0.7, 0.5, 1.0, 0.9, 0.1, 0.6, 0.3, 0.8]
    attrs = {"seed": 7.0} | ({"dtype": out} if out else {})
    model, feed = one_node("Bernoulli", [("p", p, False)], opset=22, **attrs)
    want, got, plan = cpu_and_device(model, feed, backend, tmp_path)
    assert_same(got, want)
    np.testing.assert_array_equal(got[0].astype(np.float64), np.random.RandomState(7).binomial(1, p))
    if out == 9 and backend == "vulkan":  # no bool tensors in our GLSL
        assert_falls_back(plan, "Random", backend, "Bernoulli")
    else:
        assert_on_device(plan, "Random", backend)


@pytest.mark.parametrize("backend", DEVICE_BACKENDS)
def test_bernoulli_odd_probabilities(backend, tmp_path):
    """NaN, negative, above-one and infinite p: whatever the CPU kernel draws, the device too."""
    p = np.array([np.nan, -3.0, 2.0, np.inf, -np.inf, 1e-30, 1 - 1e-16, 0.5] * 5, np.float64)
    model, feed = one_node("Bernoulli", [("p", p, False)], opset=22, seed=3.0)
    want, got, plan = cpu_and_device(model, feed, backend, tmp_path)
    assert_same(got, want)
    assert_on_device(plan, "Random", backend)


@pytest.mark.parametrize("backend", DEVICE_BACKENDS)
def test_bernoulli_too_close_to_call_reruns_on_cpu(backend, tmp_path):
    """p = 1 - u for the stream's own draws u: every draw lands on the decision boundary, which
    the device refuses to decide (its exp/log are not the CPU's), so the op reruns on the CPU.
    The device stops at the first element, so any later 1 proves the rerun answered."""
    seed = 10
    u = np.random.RandomState(seed).random_sample(40)
    assert u[0] >= 0.5  # then q = 1 - p is u exactly: the first draw is on the boundary
    p = 1.0 - u
    model, feed = one_node("Bernoulli", [("p", p, False)], opset=22, seed=float(seed))
    want, got, plan = cpu_and_device(model, feed, backend, tmp_path)
    assert_same(got, want)
    assert want[0][1:].any() and not want[0].all()
    assert_on_device(plan, "Random", backend)


@pytest.mark.parametrize("backend", DEVICE_BACKENDS)
def test_unseeded_bernoulli_stays_on_cpu(backend, tmp_path):
    p = np.full(64, 0.5, np.float32)
    model, feed = one_node("Bernoulli", [("p", p, False)], opset=22)
    _want, got, plan = cpu_and_device(model, feed, backend, tmp_path)
    assert got[0].shape == p.shape and set(np.unique(got[0])) <= {0.0, 1.0}
    assert_falls_back(plan, "Random", backend, "unseeded")


# --- Fused softmax / layer norm --------------------------------------------------------------


@pytest.mark.parametrize("backend", DEVICE_BACKENDS)
@pytest.mark.parametrize("shape", [(2, 3, 17), (7, 1), (300, 100), (2, 7, 1023)], ids=lambda s: "x".join(map(str, s)))
def test_fused_softmax(shape, backend, tmp_path):
    """Softmax over the last axis is one Fused op on the device: a work item per row, or a
    work-group per row for a few long rows (2 x 7 x 1023); masked (-inf) entries included."""
    x = (rng.standard_normal(shape) * 10).astype(np.float32)
    if shape[-1] > 1:
        x[..., 0] = -np.inf
    model, feed = one_node("Softmax", [("x", x, False)], opset=17, axis=-1)
    want, got, plan = cpu_and_device(model, feed, backend, tmp_path)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)
    assert_on_device(plan, "Fused", backend)
    variant = "fused-wg64" if shape == (2, 7, 1023) else "fused-row"
    assert [r["algorithm"] for r in rows_of(plan, "Fused")] == [variant]
    assert not [r for r in plan if r["op"] in ("Reduce", "Unary", "Binary")], plan


@pytest.mark.parametrize("backend", DEVICE_BACKENDS)
@pytest.mark.parametrize("shape,bias", [((5, 17), False), ((3, 1), True), ((300, 64), True), ((2, 7, 1023), True)],
                         ids=["5x17-no-bias", "3x1", "300x64", "2x7x1023"])
def test_fused_layernorm(shape, bias, backend, tmp_path):
    """LayerNormalization over the last axis (with its scale, with and without bias) is one
    Fused op on the device, row or work-group mapping as for softmax."""
    x = (rng.standard_normal(shape) * 3 + 2).astype(np.float32)
    r = shape[-1]
    operands = [("x", x, False), ("s", rng.standard_normal(r).astype(np.float32), True)]
    if bias:
        operands.append(("b", rng.standard_normal(r).astype(np.float32), True))
    model, feed = one_node("LayerNormalization", operands, opset=17, epsilon=1e-3)
    want, got, plan = cpu_and_device(model, feed, backend, tmp_path)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=1e-5)
    assert_on_device(plan, "Fused", backend)
    assert not [row for row in plan if row["op"] in ("Reduce", "Unary", "Binary")], plan


@pytest.mark.parametrize("backend", DEVICE_BACKENDS)
def test_fused_needs_float32(backend, tmp_path):
    """A float64 softmax is not fused for the device (it has no float64 kernel): the atomic ops
    run where they can, and the answer is the CPU's."""
    x = rng.standard_normal((4, 9))
    model, feed = one_node("Softmax", [("x", x, False)], opset=17, axis=-1)
    want, got, plan = cpu_and_device(model, feed, backend, tmp_path)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
    assert not [r for r in plan if r["op"] == "Fused"]


# --- Loop limits (lavapipe) -------------------------------------------------------------------


@pytest.mark.parametrize("backend", DEVICE_BACKENDS)
def test_long_loops_never_run_short(backend, tmp_path):
    """llvmpipe ends a shader's loops after 65535 iterations in all, silently. A 100000-long
    reduction, a 20000-draw Bernoulli stream and a softmax over rows of 30000 are either run
    where the device can (softmax: a work-group per row) or left to the CPU, and are right."""
    x = np.ones((2, 100000), np.float32)
    model, feed = one_node("ReduceSum", [("x", x, False), ("a", np.array([1], np.int64), True)], keepdims=0)
    want, got, plan = cpu_and_device(model, feed, backend, tmp_path)
    assert_same(got, want)
    assert (got[0] == 100000).all()
    if loop_limited(backend):
        assert_falls_back(plan, "Reduce", backend, "this device cuts loops")
    else:
        assert_on_device(plan, "Reduce", backend)

    p = rng.random(20000)
    model, feed = one_node("Bernoulli", [("p", p, False)], opset=22, seed=2.0)
    want, got, plan = cpu_and_device(model, feed, backend, tmp_path)
    assert_same(got, want)
    if loop_limited(backend):
        assert_falls_back(plan, "Random", backend, "this device cuts loops")
    else:
        assert_on_device(plan, "Random", backend)

    x = rng.standard_normal((300, 30000)).astype(np.float32)
    model, feed = one_node("Softmax", [("x", x, False)], opset=17, axis=-1)
    want, got, plan = cpu_and_device(model, feed, backend, tmp_path)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-7)
    assert_on_device(plan, "Fused", backend)
    if loop_limited(backend):  # 3 x 30000 iterations per row: the row variant is refused
        assert [r["algorithm"] for r in rows_of(plan, "Fused")] == ["fused-wg64"]
