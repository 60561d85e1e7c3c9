"""walle.backends() says what this build has and what runs here; a backend that cannot run
is a clear walle.BackendError, never a crash."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import walle

from ..engine.onnx_helpers import node_model, with_output_types


@pytest.fixture
def relu_model(tmp_path):
    model = node_model("Relu", {"x": np.zeros((2, 3), np.float32)})
    onnx.save(with_output_types(model), tmp_path / "m.onnx")
    walle.convert(tmp_path / "m.onnx", tmp_path / "m.walle")
    return tmp_path / "m.walle"


def test_backends_report_build_and_availability():
    every = {str(b): b for b in walle.backends(include_missing=True)}
    assert {"cpu", "cpu-reference", "opencl", "vulkan", "cuda"} <= set(every)
    assert every["cpu"].available and every["cpu"].built
    for b in every.values():
        assert b.available or b.reason, f"{b!r} is unavailable without a reason"
    assert all(b.built for b in walle.backends())
    assert "cpu" in walle.backends()  # still usable as a list of names


def test_unusable_backend_is_a_clear_error(relu_model):
    for b in walle.backends(include_missing=True):
        if b.available:
            continue
        with pytest.raises(walle.BackendError, match=str(b) if not b.built else "unavailable"):
            walle.load(relu_model, backend=str(b))


def test_unknown_backend_and_mode(relu_model):
    with pytest.raises(walle.BackendError, match="unknown backend 'tpu'"):
        walle.load(relu_model, backend="tpu")
    with pytest.raises(walle.InputError, match="mode"):
        walle.load(relu_model, backend="auto", mode="guess")


def test_auto_runs_with_whatever_is_here(relu_model):
    x = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)
    np.testing.assert_array_equal(walle.load(relu_model, backend="auto").run({"x": x})["y0"], np.maximum(x, 0))
