"""Writes the models the native whole-model test (tests/cpp/test_models.cpp) runs.

For each model: ``<name>.walle`` (built with torch from walle.models with seeded weights,
exported to ONNX and converted by walle.convert), ``<name>.input.bin`` (the input, raw
float32) and ``<name>.expected.bin`` (the output of this machine's Walle on it, raw float32),
so the cross-built test compares the emulated engine with the host one as well as with its
own reference path. With --onnx the ONNX file is kept too (``<name>.onnx``), for the aarch64
wheel's check (run_wheel_model.py), which converts it under emulation.

    python tests/cpp/models/make_test_models.py OUT_DIR [--size 32] [--models resnet18 mobilenetv2]

A small --size keeps the emulated run short (CI); 224 is the benchmark input.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

VISION = ["resnet18", "mobilenetv2", "squeezenet1_1"]


def write_model(name: str, size: int, out: Path, keep_onnx: bool = False) -> None:
    """Exports, converts and runs model ``name`` at input size ``size`` into ``out``."""
    import torch
    import walle
    from walle.models.export import make_model

    model, _ = make_model(name, seed=0)
    x = np.random.default_rng(1).standard_normal((1, 3, size, size)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = (out if keep_onnx else Path(tmp)) / f"{name}.onnx"
        with torch.no_grad():
            torch.onnx.export(model, (torch.from_numpy(x),), str(onnx_path), input_names=["input"],
                              output_names=["output"], opset_version=17, dynamo=False)
        walle.convert(onnx_path, out / f"{name}.walle")
    y = walle.load(out / f"{name}.walle", threads=1).run({"input": x})["output"]
    x.tofile(out / f"{name}.input.bin")
    np.ascontiguousarray(y, dtype=np.float32).tofile(out / f"{name}.expected.bin")
    print(f"{name}: input {x.shape}, output {y.shape} -> {out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", type=int, default=32, help="input height and width")
    parser.add_argument("--models", nargs="+", default=["resnet18", "mobilenetv2"], choices=VISION)
    parser.add_argument("--onnx", action="store_true", help="keep <name>.onnx as well")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.models:
        write_model(name, args.size, args.out, keep_onnx=args.onnx)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
