"""The model set on each device backend: every output within 1e-3 relative of the CPU backend.
Only the smaller models run here by default (PoCL and lavapipe are CPU emulations, slow on big
convolutions); WALLE_DEVICE_MODELS=all runs the whole set."""

from __future__ import annotations

import os

import numpy as np
import pytest
import walle
from walle.models import MODEL_NAMES

from .conftest import DEVICE_BACKENDS, backend_or_skip

SMALL = ["squeezenet1_1", "din", "bert", "mobilenetv2"]
MODELS = MODEL_NAMES if os.environ.get("WALLE_DEVICE_MODELS") == "all" else SMALL


def max_rel_diff(got: np.ndarray, want: np.ndarray) -> float:
    got, want = got.astype(np.float64), want.astype(np.float64)
    return float(np.max(np.abs(got - want) / (np.abs(want) + 1e-3 * np.max(np.abs(want)) + 1e-12)))


@pytest.mark.parametrize("backend", DEVICE_BACKENDS + ["auto"])
@pytest.mark.parametrize("name", MODELS)
def test_model_matches_cpu(name, backend, exported_model, tmp_path):
    if backend != "auto":
        backend_or_skip(backend)
    onnx_path, inputs = exported_model(name)
    path = tmp_path / f"{name}.walle"
    walle.convert(onnx_path, path)
    want = walle.load(path).run(inputs)
    session = walle.load(path, backend=backend)
    got = session.run(inputs)
    for key in want:
        assert got[key].shape == want[key].shape and got[key].dtype == want[key].dtype
        np.testing.assert_allclose(got[key], want[key], rtol=1e-3, atol=1e-4, err_msg=f"{name} on {backend}")
    if backend != "auto":  # the device ran most of the model's arithmetic
        on_device = [r for r in session.plan() if r["backend"] == backend and r["op"] in ("Conv", "MatMul")]
        assert on_device or not any(r["op"] in ("Conv", "MatMul") for r in session.plan())
