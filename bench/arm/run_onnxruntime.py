"""Runs an ONNX model RUNS times with onnxruntime (one thread), the peer engine of
count_instructions.sh: run under qemu-aarch64 with the instruction-count plugin, twice with
different RUNS, to get onnxruntime's instructions per inference on aarch64.

    python run_onnxruntime.py MODEL.onnx RUNS
"""

from __future__ import annotations

import sys

import numpy as np
import onnxruntime as ort


def main() -> int:
    path, runs = sys.argv[1], int(sys.argv[2])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    x = (np.arange(int(np.prod(inp.shape)), dtype=np.int64) * 37 % 101 / 50.0 - 1.0).astype(np.float32)
    x = x.reshape(inp.shape)
    for _ in range(runs):
        y = session.run(None, {inp.name: x})[0]
    print(f"onnxruntime {ort.__version__}: output checksum {float(y.sum()):.6g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
