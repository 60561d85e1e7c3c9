"""A build with OpenCL/Vulkan on a machine without their drivers: the backends report
themselves unavailable with the reason, loading one is a walle.BackendError, and "auto" runs on
the CPU. Simulated by pointing the ICD loaders at no drivers (OCL_ICD_VENDORS, VK_ICD_FILENAMES)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import walle

SCRIPT = r"""
import json, walle
out = {str(b): [b.available, b.reason] for b in walle.backends(include_missing=True)}
try:
    walle.load(__import__("sys").argv[1], backend=__import__("sys").argv[2])
    out["load"] = "ok"
except walle.BackendError as e:
    out["load"] = "BackendError: " + str(e)
print(json.dumps(out))
"""


@pytest.mark.parametrize("backend, env", [
    ("opencl", {"OCL_ICD_VENDORS": "/nonexistent-icd-dir", "OPENCL_VENDOR_PATH": "/nonexistent-icd-dir"}),
    ("vulkan", {"VK_ICD_FILENAMES": "/nonexistent-icd.json", "VK_DRIVER_FILES": "/nonexistent-icd.json"}),
])
def test_backend_without_driver(backend, env, tmp_path):
    if backend not in [str(b) for b in walle.backends()]:
        pytest.skip(f"{backend} is not in this build")
    import numpy as np
    import onnx

    from ..engine.onnx_helpers import node_model, with_output_types

    onnx.save(with_output_types(node_model("Relu", {"x": np.zeros((2, 3), np.float32)})), tmp_path / "m.onnx")
    walle.convert(tmp_path / "m.onnx", tmp_path / "m.walle")
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "m.walle"), backend],
                            check=False, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    available, reason = out[backend]
    assert not available and reason, out
    assert out["load"].startswith("BackendError") and "unavailable" in out["load"], out
