"""Model benchmark: Walle next to onnxruntime, MNN and OpenVINO (those installed).

Builds the model set itself (walle.models: ResNet-18/50, MobileNetV2, SqueezeNet 1.1, a BERT
encoder, a DIN CTR model; fp32, batch 1), then for 1 and 2 threads runs every engine in its
own process, interleaved round by round, and prints a markdown table (median and p90 latency,
ratio to Walle, session peak memory, max abs diff vs onnxruntime) and writes a PNG plot.

    python bench/models/bench_models.py [--models resnet50 bert] [--threads 1 2] [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import tempfile

from walle.benchmark import compare, markdown_table, plot
from walle.models import MODEL_NAMES, export_model
from walle.peers import ENGINES


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=MODEL_NAMES, choices=MODEL_NAMES)
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--engines", nargs="+", default=ENGINES, choices=ENGINES)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--out", default="bench/results", help="directory for models.md and models.png")
    args = parser.parse_args()

    os.makedirs(args.out, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory() as work:
        for name in args.models:
            onnx_path = os.path.join(work, f"{name}.onnx")
            inputs = export_model(name, onnx_path)
            for threads in args.threads:
                rows = compare(onnx_path, args.engines, threads, runs=args.runs, warmup=args.warmup,
                               workdir=work, model=name, feed=inputs)
                print(markdown_table(rows).split("\n", 2)[2], flush=True)
                results += rows
    table = markdown_table(results)
    with open(os.path.join(args.out, "models.md"), "w") as f:
        f.write(table + "\n")
    plot(results, os.path.join(args.out, "models.png"))
    print("\n" + table)
    print(f"\nwrote {args.out}/models.md and {args.out}/models.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
