"""Inference engines the benchmarks run side by side: Walle and, when installed,
onnxruntime, MNN and OpenVINO. Each adapter converts the ONNX model into its own format
(once, in a work directory) and returns a function that runs one inference."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from typing import Any

import numpy as np

Run = Callable[[dict[str, np.ndarray]], list[np.ndarray]]
ENGINES = ["walle", "onnxruntime", "mnn", "openvino"]


def available(engine: str) -> bool:
    module = {"walle": "walle", "onnxruntime": "onnxruntime", "mnn": "MNN", "openvino": "openvino"}[engine]
    return importlib.util.find_spec(module) is not None


def prepare(engine: str, onnx_path: str, workdir: str) -> str:
    """The model file `engine` loads, converted from `onnx_path` into `workdir` if needed."""
    stem = os.path.join(workdir, os.path.splitext(os.path.basename(onnx_path))[0])
    if engine == "walle":
        import walle

        if not os.path.exists(stem + ".walle"):
            walle.convert(onnx_path, stem + ".walle")
        return stem + ".walle"
    if engine == "mnn":
        if not os.path.exists(stem + ".mnn"):
            # MNN's converter extension (not its `mnnconvert` wrapper, which pip-installs
            # packages and sends telemetry).
            import _tools

            ok = _tools.mnnconvert(["mnnconvert", "-f", "ONNX", "--modelFile", onnx_path, "--MNNModel",
                                    stem + ".mnn", "--bizCode", "walle"])
            if not ok or not os.path.exists(stem + ".mnn"):
                raise RuntimeError(f"MNN could not convert {onnx_path}")
        return stem + ".mnn"
    return onnx_path


def load(engine: str, path: str, threads: int, input_names: list[str], output_names: list[str]) -> Run:
    """A function running one inference of the model at `path` with `threads` threads."""
    if engine == "walle":
        import walle

        session = walle.load(path, threads=threads)
        return lambda feed: list(session.run(feed).values())
    if engine == "onnxruntime":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        return lambda feed: session.run(None, feed)
    if engine == "openvino":
        import openvino as ov

        core = ov.Core()
        compiled = core.compile_model(path, "CPU", {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1,
                                                    "INFERENCE_PRECISION_HINT": "f32"})
        request = compiled.create_infer_request()
        return lambda feed: [np.array(v) for v in request.infer(feed).values()]
    if engine == "mnn":
        import MNN.expr as F
        from MNN import nn

        runtime = nn.create_runtime_manager(({"backend": "CPU", "numThread": threads, "precision": "high"},))
        module = nn.load_module_from_file(path, input_names, output_names, runtime_manager=runtime)

        def run(feed: dict[str, Any]) -> list[np.ndarray]:
            args = []
            for name in input_names:
                value = np.ascontiguousarray(feed[name])
                if value.dtype == np.bool_:  # MNN has no bool inputs: ONNX bool becomes int32
                    value = value.astype(np.int32)
                args.append(F.const(value, list(value.shape), F.NCHW))
            return [np.array(o.read()) for o in module.forward(args)]

        return run
    raise ValueError(f"unknown engine {engine!r}; known: {ENGINES}")
