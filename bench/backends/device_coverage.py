"""Per device backend: how many of the op cases of tests/engine/test_ops.py pass, how many run
entirely on the device, and why the other atomic ops fell back to the CPU.

    python bench/backends/device_coverage.py        (from the repository root)
"""

from __future__ import annotations

import collections
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import walle

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.engine.onnx_helpers import node_model, reference, with_output_types
from tests.engine.test_ops import CASES, _check, _opset


def main() -> None:
    devices = [str(b) for b in walle.backends() if b.available and str(b) not in ("cpu", "cpu-reference")]
    for device in devices:
        passed, on_device, ops_device, ops_cpu = 0, 0, 0, 0
        reasons: collections.Counter[str] = collections.Counter()
        for case_id, op, inputs, constants, attrs, n_out in CASES:
            model = node_model(op, inputs, n_out, constants, opset=_opset(op), **attrs)
            with tempfile.TemporaryDirectory() as tmp:
                onnx.save(with_output_types(model), Path(tmp) / "m.onnx")
                walle.convert(Path(tmp) / "m.onnx", Path(tmp) / "m.walle")
                session = walle.load(Path(tmp) / "m.walle", backend=device)
                try:
                    _check(list(session.run(inputs).values()), reference(model, inputs))
                    passed += 1
                except AssertionError as e:
                    print(f"  {device} {case_id}: FAIL {str(e)[:200]}")
            rows = [r for r in session.plan() if r["op"] != "Copy"]
            here = [r for r in rows if r["backend"] == device]
            ops_device += len(here)
            ops_cpu += len(rows) - len(here)
            on_device += len(here) == len(rows)
            for r in rows:
                if r["backend"] != device:
                    why = r["candidates"].split(f"{device}: cannot (")[-1].split(")")[0]
                    reasons[f"{r['op']}: {why}"] += 1
        print(f"{device}: {passed}/{len(CASES)} cases match the reference; {on_device} run wholly on the device; "
              f"atomic ops on the device {ops_device}, on the CPU {ops_cpu}")
        for why, n in reasons.most_common():
            print(f"    {n:3d} x {why}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
