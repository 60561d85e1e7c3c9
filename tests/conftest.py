"""Shared fixtures: models are built and exported here, once per test session."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("models"))


_exported: dict[str, tuple[str, dict]] = {}


@pytest.fixture(scope="session")
def exported_model(model_dir):
    """exported_model(name) -> (onnx path, example inputs); torch export runs once per name."""
    torch = pytest.importorskip("torch", reason="torch is needed to build the reference models")
    torch.set_num_threads(1)
    from walle.models import export_model

    def get(name: str) -> tuple[str, dict]:
        if name not in _exported:
            path = os.path.join(model_dir, f"{name}.onnx")
            _exported[name] = (path, export_model(name, path))
        return _exported[name]

    return get
