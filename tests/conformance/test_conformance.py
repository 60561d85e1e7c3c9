"""The ONNX backend conformance suite (node, simple, pytorch-converted, pytorch-operator)
through the public Walle API, each test in a worker process, on the CPU backend and on OpenCL
and Vulkan where available. Fails if any suite's pass count
falls below tests/conformance/baseline.json or if any test crashes its process.

WALLE_CONFORMANCE_REPORT=path writes the per-op-type markdown table there (default: the
pytest tmp dir); WALLE_CONFORMANCE_WORKERS sets the number of worker processes (default 2).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import runner
from cases import write_suite


def _backends() -> list:
    """cpu always; opencl and vulkan where this build and machine have them (CI installs PoCL
    and lavapipe, so there they run); a missing one is skipped with the reason."""
    import walle

    status = {b: b for b in walle.backends(include_missing=True)}
    params = [pytest.param("cpu")]
    for name in ("opencl", "vulkan"):
        info = status.get(name)
        reason = "not in this build" if info is None else info.reason
        params.append(pytest.param(name, marks=pytest.mark.skipif(
            info is None or not info.available, reason=f"{name} backend unavailable: {reason}")))
    return params


@pytest.mark.timeout(900)
@pytest.mark.parametrize("backend", _backends())
def test_conformance_suite(tmp_path, backend):
    cases = write_suite(tmp_path / "suite")
    workers = int(os.environ.get("WALLE_CONFORMANCE_WORKERS", "2"))
    engine = "walle" if backend == "cpu" else f"walle:{backend}"
    results = runner.run_suite(cases, engine, workers=workers, timeout=60)
    report = Path(os.environ.get("WALLE_CONFORMANCE_REPORT", tmp_path / "conformance.md"))
    report = report.with_name(f"{report.stem}-{backend}{report.suffix}")
    report.write_text(runner.report(results, engine))
    summary = runner.summary(results)
    print(f"\nconformance report ({backend}): {report}")
    for kind, s in summary.items():
        print(f"  {kind}: {s['passed']}/{s['tests']} passed, {s['crashes']} crashes, {s['timeouts']} timeouts")
    baseline = json.loads((HERE / "baseline.json").read_text())[backend]
    crashed = [r.case.name for r in results if r.category == "crash"]
    assert not crashed, f"tests crashed the engine process: {crashed[:10]}"
    for kind, floor in baseline.items():
        got = summary.get(kind, {}).get("passed", 0)
        assert got >= floor, f"{backend} {kind}: {got} tests pass, below the committed baseline {floor} (see {report})"
