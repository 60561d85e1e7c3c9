"""SessionOptions.force / walle.load(force=...): choices that the search would make, forced for
tests and experiments, with errors that name what is wrong (issue 23: forcing went through
environment variables read inside the kernels)."""

from __future__ import annotations

import pathlib

import numpy as np
import onnx
import pytest
import walle
from onnx import TensorProto, helper, numpy_helper

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def conv_model(tmp_path):
    rng = np.random.default_rng(3)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 12, 12])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 12, 12])],
                              [numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    walle.convert(tmp_path / "m.onnx", tmp_path / "m.walle")
    return tmp_path / "m.walle", {"x": rng.standard_normal((1, 8, 12, 12)).astype(np.float32)}


def test_every_offered_variant_can_be_forced_and_agrees(conv_model):
    path, feed = conv_model
    want = walle.load(path, backend="cpu-reference").run(feed)["y"]
    (row,) = walle.load(path, force={"layout": "nchw"}).plan()
    assert row["algorithm"] == row["variants"][0]  # the estimate's choice is the best guess
    assert {"im2col", "im2col-t", "winograd-f23", "winograd-f43"} <= set(row["variants"]), row
    for variant in row["variants"]:
        session = walle.load(path, force={"layout": "nchw", "Conv": variant})
        (forced,) = session.plan()
        assert forced["algorithm"] == variant and forced["layout"] == "nchw", forced
        np.testing.assert_allclose(session.run(feed)["y"], want, rtol=1e-4, atol=1e-3)


def test_unknown_kind_and_layout_are_errors(conv_model):
    path, _ = conv_model
    with pytest.raises(walle.Error, match="force: 'Convolution' is not an atomic op kind"):
        walle.load(path, force={"Convolution": "im2col"})
    with pytest.raises(walle.Error, match="force layout='nhwc': choose 'nchw' or 'blocked'"):
        walle.load(path, force={"layout": "nhwc"})
    with pytest.raises(walle.InputError, match="force: keys and values must be strings"):
        walle.load(path, force={"Conv": 3})


def test_a_variant_no_op_offers_names_those_offered(conv_model):
    path, _ = conv_model
    with pytest.raises(walle.BackendError, match=r"force Conv='winograd-f99'.*'im2col'"):
        walle.load(path, force={"layout": "nchw", "Conv": "winograd-f99"})


def test_no_environment_variable_is_read_outside_the_options_module():
    """Choices go through SessionOptions; the environment is read in csrc/core/environment.cpp only."""
    readers = [str(p.relative_to(ROOT)) for folder in ("csrc", "backends") for p in (ROOT / folder).rglob("*")
               if p.suffix in (".cpp", ".h", ".cu", ".cuh", ".inc", ".cl", ".glsl", ".comp")
               and "getenv" in p.read_text(errors="replace")]
    assert readers == ["csrc/core/environment.cpp"], readers
