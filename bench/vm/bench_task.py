"""The benchmark's task and model, and the helpers its worker processes import.

The task is what an on-device pipeline step typically does: pure-Python pre-processing
of raw uint8 pixels (normalize, then a few passes of a 1-D blur whose count each workload
sets), then one run of a small conv net through the walle engine.  It uses no numpy, so
the same code runs in a sub-interpreter.
"""

from __future__ import annotations

import gc
import importlib.util
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

INPUT_SHAPE = (1, 3, 64, 64)
CHANNELS, LAYERS = 24, 4  # ~3.5 ms per run single-threaded on the reference machine

TASK_SOURCE = '''
"""Benchmark task: pure-Python pre-processing, then one run of a small conv net."""
from array import array

SHAPE = [1, 3, 64, 64]


def normalize(raw):
    # uint8 pixels -> float32 in [-1, 1)
    return array("f", [(p - 128.0) * 0.0078125 for p in raw])


def blur(values, passes):
    # 1-D [1, 2, 1] / 4 smoothing with wrap-around; each pass is ~1.5 ms of Python
    n = len(values)
    for _ in range(passes):
        values = array("f", [(values[i - 1] + 2.0 * values[i] + values[(i + 1) % n]) * 0.25 for i in range(n)])
    return values


def run(ctx, inputs):
    x = blur(normalize(inputs["pixels"]), inputs["blur_passes"])
    tensor = memoryview(x).cast("B").cast("f", SHAPE)
    y = ctx.models["net"].run({"x": tensor})["y"]  # numpy array in a host, walle.Tensor in a guest
    scores = memoryview(y).cast("B").cast("f").tolist()
    best = max(range(len(scores)), key=scores.__getitem__)
    return {"class": best, "score": scores[best]}
'''


def build_model(directory: Path) -> Path:
    """Convert a conv net (LAYERS x [3x3 Conv + Relu], GlobalAveragePool) to .walle."""
    import numpy as np
    import onnx
    import walle
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, weights, x, c_in = [], [], "x", INPUT_SHAPE[1]
    for i in range(LAYERS):
        w = (rng.standard_normal((CHANNELS, c_in, 3, 3)) * 0.2).astype(np.float32)
        b = (rng.standard_normal(CHANNELS) * 0.01).astype(np.float32)
        weights += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes += [
            helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [f"c{i}"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", [f"c{i}"], [f"r{i}"]),
        ]
        x, c_in = f"r{i}", CHANNELS
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["y"]))
    graph = helper.make_graph(
        nodes,
        "bench_convnet",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(INPUT_SHAPE))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, CHANNELS, 1, 1])],
        weights,
    )
    directory.mkdir(parents=True, exist_ok=True)
    onnx_path, walle_path = directory / "net.onnx", directory / "net.walle"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), onnx_path)
    walle.convert(onnx_path, walle_path)
    onnx_path.unlink()
    return walle_path


def make_bundle(parent: Path, name: str, model: Path, concurrency: int = 1) -> Path:
    """A task bundle running TASK_SOURCE on its own copy of ``model``."""
    root = parent / name
    root.mkdir()
    (root / "main.py").write_text(TASK_SOURCE)
    (root / "net.walle").write_bytes(model.read_bytes())
    (root / "task.toml").write_text(
        f'name = "{name}"\nversion = "1"\nentry = "main:run"\n'
        f'[models.net]\npath = "net.walle"\nthreads = 1\n'
        f"[limits]\nconcurrency = {concurrency}\nqueue_length = 100000\n"
    )
    return root


def load_direct(root: Path | str) -> tuple[Any, Any]:
    """Import a bundle's main.py as a plain module and load its model (no VM): what the
    sequential baseline and a worker process do.  Returns (module, ctx)."""
    import walle

    root = Path(root)
    spec = importlib.util.spec_from_file_location(f"bench_task_{root.name}", root / "main.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, SimpleNamespace(models={"net": walle.load(root / "net.walle", threads=1)})


_loaded: dict[str, tuple[Any, Any]] = {}  # per worker process: bundle root -> (module, ctx)


def process_run(root: str, inputs: dict[str, Any]) -> Any:
    """Runs in a worker process: load the task on first use, then run it."""
    if root not in _loaded:
        _loaded[root] = load_direct(root)
    module, ctx = _loaded[root]
    return module.run(ctx, inputs)


def trim_memory() -> None:
    """Return freed heap to the OS so that PSS shows what is really held."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: PSS then includes some free heap, equally for every variant


def settled_pss_kib() -> int:
    """Runs in a worker process: trim, then report its PSS."""
    trim_memory()
    return pss_kib()


def pss_kib(pid: int | str = "self") -> int:
    """Proportional set size (KiB): a page shared by k processes counts 1/k in each, so
    the sum over processes is the memory really in use."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise RuntimeError("no Pss in smaps_rollup")


def worker_pid() -> int:
    """Runs in a worker process."""
    return os.getpid()
