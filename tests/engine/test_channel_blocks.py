"""The channel-blocked layout (runtime/block_channels.cpp, cpu/conv_blocked.cpp): conv chains
run on [N, C/16, H, W, 16] with conversions at their edges. Every model here must give the
onnx reference evaluator's result with the layout on and off, and on AVX-512 the plan must
show the blocked kernels and no conversion inside a chain."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from .onnx_helpers import available_isas, reference, run_walle

needs_avx512 = pytest.mark.skipif("avx512" not in available_isas(), reason="the blocked kernels are AVX-512 only")

rng = np.random.default_rng(5)


class Net:
    """A small ONNX graph builder: each method adds a node and returns its output name."""

    def __init__(self) -> None:
        self.nodes, self.inits, self.count = [], [], 0

    def name(self, kind: str) -> str:
        self.count += 1
        return f"{kind}{self.count}"

    def const(self, array: np.ndarray) -> str:
        n = self.name("c")
        self.inits.append(numpy_helper.from_array(array.astype(np.float32), n))
        return n

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def conv(self, x: str, cin: int, cout: int, k: int, stride: int = 1, pads=None, group: int = 1,
             dilation: int = 1, act: str | None = "Relu") -> str:
        w = self.const(rng.standard_normal((cout, cin // group, k, k)) / np.sqrt(cin // group * k * k))
        b = self.const(rng.standard_normal(cout) * 0.1)
        pads = pads if pads is not None else [dilation * (k // 2)] * 4
        y = self.node("Conv", [x, w, b], strides=[stride] * 2, pads=pads, group=group, dilations=[dilation] * 2)
        if act == "Relu":
            return self.node("Relu", [y])
        if act == "Relu6":
            return self.node("Clip", [y, self.const(np.array(0)), self.const(np.array(6))])
        return y

    def model(self, inputs: dict[str, tuple], outputs: list[str]) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, "g", [helper.make_tensor_value_info(k, TensorProto.FLOAT, list(v)) for k, v in inputs.items()],
            [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs], self.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def resnet_like(batch: int) -> tuple[onnx.ModelProto, dict]:
    """Stem from 3 channels, max pool, a bottleneck with a residual add, strided and dilated
    convs, channel counts that are not multiples of 16, global average pool, classifier."""
    n = Net()
    x = n.conv("x", 3, 32, 7, stride=2)
    x = n.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    y = n.conv(x, 32, 24, 1)
    y = n.conv(y, 24, 24, 3, pads=[0, 1, 2, 1])
    y = n.conv(y, 24, 32, 1, act=None)
    x = n.node("Max", [n.node("Relu", [n.node("Add", [x, y])]), x])  # Max: a blocked Binary op of its own
    x = n.conv(x, 32, 40, 3, stride=2, dilation=2)
    x = n.node("AveragePool", [x], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=1)
    x = n.conv(x, 40, 48, 1, stride=2)
    x = n.node("GlobalAveragePool", [x])
    x = n.node("Flatten", [x])
    x = n.node("Gemm", [x, n.const(rng.standard_normal((10, 48))), n.const(rng.standard_normal(10))], transB=1)
    return n.model({"x": (batch, 3, 37, 45)}, [x]), {"x": rng.standard_normal((batch, 3, 37, 45)).astype(np.float32)}


def mobilenet_like(batch: int) -> tuple[onnx.ModelProto, dict]:
    """Inverted residuals: 1x1 expand (ReLU6), depthwise 3x3 (stride 1 and 2), 1x1 project,
    residual add; 24 channels (a partial block) between them; a graph output mid-chain."""
    n = Net()
    x = n.conv("x", 16, 24, 3, stride=2, act="Relu6")
    mid = x
    for stride in (1, 2):
        y = n.conv(x, 24, 96, 1, act="Relu6")
        y = n.conv(y, 96, 96, 3, stride=stride, group=96, act="Relu6")
        y = n.conv(y, 96, 24, 1, act=None)
        x = n.node("Add", [x, y]) if stride == 1 else y
    x = n.node("Exp", [x])  # f(0) != 0 on a partial block: must not run blocked
    x = n.conv(x, 24, 32, 1)
    x = n.node("Exp", [x])  # whole blocks: may
    x = n.conv(x, 32, 16, 3, act=None)
    return n.model({"x": (batch, 16, 30, 26)}, [x, mid]), {"x": rng.standard_normal((batch, 16, 30, 26)).astype(np.float32)}


def fire(batch: int) -> tuple[onnx.ModelProto, dict]:
    """SqueezeNet's fire modules: squeeze, two expands concatenated on channels, ceil-mode pool."""
    n = Net()
    x = n.conv("x", 32, 32, 3)
    for _ in range(2):
        s = n.conv(x, 32, 16, 1)
        x = n.node("Concat", [n.conv(s, 16, 16, 1), n.conv(s, 16, 16, 3)], axis=1)
    x = n.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    x = n.conv(x, 32, 20, 1)
    return n.model({"x": (batch, 32, 14, 15)}, [x]), {"x": rng.standard_normal((batch, 32, 14, 15)).astype(np.float32)}


def winograd_chain(batch: int) -> tuple[onnx.ModelProto, dict]:
    """3x3 stride-1 convs as Winograd F(4x4) sees them: maps that are not multiples of 4
    (partial tiles), asymmetric and no padding, channels that are not multiples of 16, a
    fused residual add + ReLU, ReLU6, no activation."""
    n = Net()
    x = n.conv("x", 20, 40, 3)
    y = n.conv(x, 40, 40, 3, act="Relu6")
    y = n.conv(y, 40, 40, 3, act=None)
    x = n.node("Relu", [n.node("Add", [x, y])])
    x = n.conv(x, 40, 24, 3, pads=[0, 1, 2, 1])
    x = n.conv(x, 24, 33, 3, pads=[0, 0, 0, 0], act=None)
    return n.model({"x": (batch, 20, 13, 11)}, [x]), {"x": rng.standard_normal((batch, 20, 13, 11)).astype(np.float32)}


MODELS = {"resnet-like": resnet_like, "mobilenet-like": mobilenet_like, "fire": fire, "winograd-chain": winograd_chain}


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("layout", ["blocked", "nchw"])
@pytest.mark.parametrize("name", list(MODELS))
def test_matches_reference(name, layout, batch, threads, tmp_path):
    model, inputs = MODELS[name](batch)
    want = reference(model, inputs)
    got = run_walle(model, inputs, tmp_path, threads=threads, force={"layout": layout})
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(w).max())))


DEPTHWISE_CASES = [(w, s, p) for w in (1, 2, 3, 7, 12) for s in (1, 2)
                   for p in ([1, 1, 1, 1], [0, 0, 0, 0], [2, 2, 2, 2], [0, 2, 1, 0]) if w + p[1] + p[3] >= 3]


@pytest.mark.parametrize(("width", "stride", "pads"), DEPTHWISE_CASES)
def test_depthwise_3x3_edges_match_reference(width, stride, pads, tmp_path):
    """The blocked 3x3 depthwise row: edge pixels (windows past the left or right border,
    or both on narrow maps) next to the unrolled interior, top and bottom rows, residual."""
    n = Net()
    x = n.conv("x", 8, 24, 1, act=None)  # blocked from here; 24 channels: a partial block
    y = n.conv(x, 24, 24, 3, stride=stride, pads=pads, group=24, act="Relu6")
    y = n.conv(y, 24, 24, 1, act=None)
    model = n.model({"x": (1, 8, 5, width)}, [y])
    inputs = {"x": rng.standard_normal((1, 8, 5, width)).astype(np.float32)}
    got = run_walle(model, inputs, tmp_path)
    np.testing.assert_allclose(got[0], reference(model, inputs)[0], rtol=1e-4, atol=1e-4)


@needs_avx512
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("algo", ["winograd", "direct"])
def test_blocked_conv_algorithms_match_reference(algo, batch, threads, tmp_path):
    """Both blocked algorithms for 3x3 stride-1 convolutions, forced on every such conv."""
    model, inputs = winograd_chain(batch)
    got = run_walle(model, inputs, tmp_path, threads=threads, force={"Conv": f"blocked-{algo}"})
    np.testing.assert_allclose(got[0], reference(model, inputs)[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("threads", [1, 2])
def test_winograd_with_weights_larger_than_a_block(threads, tmp_path):
    """96 -> 96 channels: the transformed weights (1.3 MB) exceed a block's budget, so each
    image is one block whose steps the threads share (cpu/conv_blocked.cpp)."""
    n = Net()
    y = n.conv(n.conv("x", 96, 96, 3), 96, 96, 3, act=None)
    model = n.model({"x": (2, 96, 10, 9)}, [y])
    inputs = {"x": rng.standard_normal((2, 96, 10, 9)).astype(np.float32)}
    winograd = "blocked-winograd" if "avx512" in available_isas() else "winograd-f43"
    got = run_walle(model, inputs, tmp_path, threads=threads, force={"Conv": winograd})
    np.testing.assert_allclose(got[0], reference(model, inputs)[0], rtol=1e-4, atol=1e-4)


def _plan(model, tmp_path, force=None):
    import walle

    onnx.save(model, tmp_path / "m.onnx")
    walle.convert(tmp_path / "m.onnx", tmp_path / "m.walle")
    return walle.load(tmp_path / "m.walle", force=force).plan()


@needs_avx512
def test_resnet_like_plan_stays_blocked(tmp_path):
    """Every conv and pool runs blocked; the only conversion is after the global pool (and
    none at all when the pooled channels fill whole blocks: the bytes already are NCHW)."""
    plan = _plan(resnet_like(1)[0], tmp_path)
    for row in plan:
        if row["op"] in ("Conv", "Pool"):
            assert "blocked" in row["kernel"], row
    assert plan[0]["kernel"].startswith("f32-conv-blocked-from-nchw")  # the stem reads NCHW in place
    conversions = [r for r in plan if "channel blocks" in r["node"]]
    assert all("GlobalAveragePool" in r["node"] for r in conversions), conversions


@needs_avx512
def test_fire_concat_is_in_place(tmp_path):
    """The channel concat of two blocked expands is aliased like the NCHW one: no copy."""
    plan = _plan(fire(1)[0], tmp_path)
    assert not [r for r in plan if r["op"] == "Raster" and "Concat" in r["node"]], plan


@needs_avx512
def test_zero_changing_unary_on_partial_block_stays_plain(tmp_path):
    plan = _plan(mobilenet_like(1)[0], tmp_path)
    exps = [r for r in plan if r["op"] == "Unary"]
    assert len(exps) == 2
    ranks = sorted(r["shape"].count(",") + 1 for r in exps)  # shape is shown as "[1, 24, 8, 7]"
    assert ranks == [4, 5], exps  # 24 channels: NCHW; 32 channels: blocked


@needs_avx512
@pytest.mark.parametrize("algo", ["winograd", "direct"])
def test_forced_blocked_algorithm_shows_in_plan(algo, tmp_path):
    rows = [r for r in _plan(winograd_chain(1)[0], tmp_path, {"Conv": f"blocked-{algo}"}) if r["op"] == "Conv"]
    assert len(rows) == 5
    want = "f32-conv-winograd-blocked-avx512" if algo == "winograd" else "f32-conv-blocked-avx512"
    assert all(r["kernel"] == want for r in rows), rows
    assert all(r["algorithm"] == f"blocked-{algo}" and r["layout"] == "blocked" for r in rows), rows


def one_conv(channels: int, size: int) -> onnx.ModelProto:
    n = Net()
    return n.model({"x": (1, channels, size, size)}, [n.conv(n.conv("x", channels, channels, 1), channels, channels, 3)])


@needs_avx512
def test_winograd_choice_follows_the_cost_estimate(tmp_path):
    """Winograd on wide maps (4x fewer multiplies); direct on deep 7x7 layers, where
    Winograd's 4x larger weights cost more to stream than the multiplies it saves."""
    def last_conv(model):
        return [r["kernel"] for r in _plan(model, tmp_path) if r["op"] == "Conv"][-1]

    wide, deep = last_conv(one_conv(64, 56)), last_conv(one_conv(512, 7))
    assert (wide, deep) == ("f32-conv-winograd-blocked-avx512", "f32-conv-blocked-avx512")
