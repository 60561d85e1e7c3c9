"""Checks an installed Walle wheel end to end on a foreign machine (the aarch64 wheel under
qemu-aarch64): imports it, converts ``<name>.onnx``, runs it on the CPU backend and compares
with ``<name>.expected.bin``, the host's output (make_test_models.py --onnx wrote all three).

    python run_wheel_model.py DIR NAME [--tolerance 1e-4]

Exits 1 if the largest difference exceeds the tolerance (absolute, on logits of order 1).
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("name")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()

    import walle
    from walle import _walle

    print(f"walle on {platform.machine()}, CPU level {_walle.detected_isa()}")
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / f"{args.name}.walle"
        start = time.perf_counter()
        report = walle.convert(args.dir / f"{args.name}.onnx", model)
        print(f"converted {args.name}.onnx: {report.nodes_out} nodes ({time.perf_counter() - start:.1f} s)")
        session = walle.load(model, threads=1)
        x = np.fromfile(args.dir / f"{args.name}.input.bin", dtype=np.float32)
        side = round(math.sqrt(x.size / 3))  # make_test_models.py writes square images
        y = session.run({"input": x.reshape(1, 3, side, side)})["output"]
    expected = np.fromfile(args.dir / f"{args.name}.expected.bin", dtype=np.float32).reshape(y.shape)
    diff = float(np.max(np.abs(y - expected)))
    same_top = int(np.argmax(y)) == int(np.argmax(expected))
    print(f"{args.name}: max |aarch64 - host| = {diff:.3g} (tolerance {args.tolerance}), same top class: {same_top}")
    return 0 if diff <= args.tolerance and same_top else 1


if __name__ == "__main__":
    sys.exit(main())
