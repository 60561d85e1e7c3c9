"""The release wheel, installed as a user installs it (a fresh venv, `pip install
--only-binary=:all:`, so no compiler is used), converts and runs a model and lists every backend.

The wheel is walle-*-cp3XY-*manylinux*.whl for this interpreter in $WALLE_WHEELHOUSE (default
wheelhouse/ at the repository root, where `bash packaging/build-wheels.sh` writes it). Without
one the test is skipped; with $WALLE_WHEELHOUSE set (CI builds the wheel first) a missing wheel
fails it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ALL_BACKENDS = {"cpu", "cpu-reference", "opencl", "vulkan", "cuda"}

# Runs inside the fresh venv: a model made with onnx's helper API, converted by the `walle`
# command, run from Python and checked against numpy.
CHECK = r'''
import json, subprocess, sys, time
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(0)
w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
g = rng.standard_normal((4 * 6 * 6, 5)).astype(np.float32)
nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Relu", ["c"], ["r"]),
         helper.make_node("Flatten", ["r"], ["f"]), helper.make_node("MatMul", ["f", "g"], ["y"])]
graph = helper.make_graph(nodes, "wheel_check", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5])],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(g, "g")])
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), "m.onnx")
subprocess.run(["walle", "convert", "m.onnx", "-o", "m.walle"], check=True)

import walle
x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
y = walle.load("m.walle").run({"x": x})["y"]
cols = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(2, 3))  # [2, 3, 6, 6, 3, 3]
conv = np.einsum("nchwij,ocij->nohw", cols, w)
want = np.maximum(conv, 0).reshape(2, -1) @ g
first_inference = time.time()
try:  # C++ text formatting after numpy and onnx loaded their own libstdc++ (the wheel links its own)
    walle.load("m.walle").run({"x": np.zeros((3, 2), np.float32)})
    message = ""
except walle.InputError as e:
    message = str(e)
print(json.dumps({"shape_error": message, "error": float(np.abs(y - want).max()), "file": walle.__file__,
                  "version": walle.__version__,
                  "backends": {str(b): [b.available, b.reason] for b in walle.backends(include_missing=True)},
                  "first_inference": first_inference}))
'''


def _wheel() -> Path | None:
    house = Path(os.environ.get("WALLE_WHEELHOUSE", ROOT / "wheelhouse"))
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    found = sorted(house.glob(f"walle-*-{tag}-{tag}-*manylinux*_x86_64.whl"))
    return found[-1] if found else None


@pytest.mark.timeout(900)
def test_release_wheel_installs_without_a_compiler_and_runs(tmp_path):
    wheel = _wheel()
    if wheel is None:
        if os.environ.get("WALLE_WHEELHOUSE"):
            pytest.fail(f"no wheel for this Python in WALLE_WHEELHOUSE={os.environ['WALLE_WHEELHOUSE']}")
        pytest.skip("no release wheel built for this Python: run `bash packaging/build-wheels.sh`")
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    start = time.time()
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                    "--only-binary=:all:", str(wheel)], check=True, env=env, cwd=tmp_path)
    installed = time.time()
    out = subprocess.run([str(venv / "bin" / "python"), "-c", CHECK], check=True, env=env, cwd=tmp_path,
                         capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    print(f"\n{wheel.name}: {wheel.stat().st_size / 2**20:.1f} MiB; pip install {installed - start:.1f} s; "
          f"pip install to first inference {result['first_inference'] - start:.1f} s")
    assert str(venv) in result["file"], f"imported walle from {result['file']}, not from the installed wheel"
    assert result["error"] < 1e-4, result
    assert "[2, 3, 8, 8]" in result["shape_error"] and "[3, 2]" in result["shape_error"], result["shape_error"]
    assert ALL_BACKENDS <= set(result["backends"]), result["backends"]
    for name in ("cpu", "cpu-reference"):
        assert result["backends"][name][0], result["backends"][name]
    version = subprocess.run([str(venv / "bin" / "walle"), "--version"], check=True, env=env,
                             capture_output=True, text=True).stdout.strip()
    assert version == f"walle {result['version']}", version
