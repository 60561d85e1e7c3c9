"""Cost of running ONNX shape inference in the converter's guarded worker (issue 24).

Converts a small model N times with inference in the worker (what walle.convert does) and
with inference called in-process (what it did before), and prints the mean per conversion,
plus the one-time cost of starting the worker and of recovering from a crash there.

    python bench/converter/bench_guarded_inference.py [--runs 200]
"""

from __future__ import annotations

import argparse
import importlib
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import onnx
import walle
from onnx import TensorProto, helper, numpy_helper
from walle.converters.onnx import inference

convert_module = importlib.import_module("walle.converters.onnx.convert")  # the module, not the function


def _model(path: Path) -> None:
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("MatMul", ["a", "w"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])],
                              [numpy_helper.from_array(np.ones((8, 4), np.float32), "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def _mean_ms(src: Path, dst: Path, runs: int) -> float:
    start = time.perf_counter()
    for _ in range(runs):
        walle.convert(src, dst)
    return (time.perf_counter() - start) / runs * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "m.onnx", Path(tmp) / "m.walle"
        _model(src)
        start = time.perf_counter()
        walle.convert(src, dst)  # starts the worker
        first_ms = (time.perf_counter() - start) * 1e3
        guarded = _mean_ms(src, dst, args.runs)
        in_process = lambda model, source: onnx.shape_inference.infer_shapes(model, data_prop=True)
        with mock.patch.object(convert_module, "infer_shapes", in_process):
            unguarded = _mean_ms(src, dst, args.runs)
        inference._worker.close()  # what a crash costs: the next conversion starts a new worker
        inference._worker.proc.poll()
        start = time.perf_counter()
        walle.convert(src, dst)
        restart_ms = (time.perf_counter() - start) * 1e3
    print(f"| conversion | ms |\n|---|---:|\n| first (starts the worker) | {first_ms:.1f} |\n"
          f"| guarded worker, mean of {args.runs} | {guarded:.2f} |\n| in-process inference, mean | {unguarded:.2f} |\n"
          f"| after a worker crash (restart) | {restart_ms:.1f} |")


if __name__ == "__main__":
    main()
