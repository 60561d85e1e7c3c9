"""``python -m walle.quickstart``: the whole path on a model made here.

Builds ResNet-18 with torch (seeded random weights), exports it to ONNX, converts it to
.walle, runs it with Walle and with onnxruntime on the same input, and prints the top
classes, the largest difference, and both engines' median latency measured in one run.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

import walle
from walle.benchmark import compare, markdown_table
from walle.models import MODEL_NAMES, export_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18", choices=MODEL_NAMES)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        onnx_path, walle_path = Path(tmp) / f"{args.model}.onnx", Path(tmp) / f"{args.model}.walle"
        print(f"1. building {args.model} with torch and exporting {onnx_path.name}")
        inputs = export_model(args.model, onnx_path)
        report = walle.convert(onnx_path, walle_path)
        print(f"2. converted to {walle_path.name}: {report.nodes_out} nodes, {report.weight_bytes / 1e6:.1f} MB weights")
        session = walle.load(walle_path, threads=args.threads)
        out = session.run(inputs)["output"]
        print(f"3. walle output: shape {out.shape}, top-5 classes {np.argsort(-out.reshape(-1))[:5].tolist()}")
        import onnxruntime as ort

        expected = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).run(None, inputs)[0]
        diff = float(np.max(np.abs(out - expected)))
        print(f"4. onnxruntime output: top-5 classes {np.argsort(-expected.reshape(-1))[:5].tolist()}, "
              f"max abs difference {diff:.3g}")
        print(f"5. latency, {args.threads} thread(s), {args.runs} interleaved runs, each engine in its own process:")
        print(markdown_table(compare(str(onnx_path), ["walle", "onnxruntime"], args.threads, runs=args.runs,
                                     workdir=tmp, feed=inputs)))
        ok = np.allclose(out, expected, rtol=1e-4, atol=1e-5)
        print("outputs match onnxruntime (rtol 1e-4, atol 1e-5)" if ok else "OUTPUTS DIFFER from onnxruntime")
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
