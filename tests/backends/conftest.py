"""Backend selection for the device-backend tests: a backend this build lacks, or whose driver
is missing here, is skipped with the reason walle.backends() gives."""

from __future__ import annotations

import pytest
import walle

DEVICE_BACKENDS = ["opencl", "vulkan", "cuda"]


def backend_or_skip(name: str) -> None:
    """Skips the calling test unless `name` is built and usable on this machine."""
    info = {str(b): b for b in walle.backends(include_missing=True)}
    b = info.get(name)
    if b is None or not b.built:
        pytest.skip(f"{name}: not in this build ({b.reason if b is not None else 'unknown backend'})")
    if not b.available:
        pytest.skip(f"{name}: no usable driver here ({b.reason})")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Calibration and tuning caches in a per-run folder, so tests never read stale numbers."""
    monkeypatch.setenv("WALLE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "walle-cache"))
