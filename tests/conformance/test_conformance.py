"""The ONNX backend conformance suite (node, simple, pytorch-converted, pytorch-operator)
through the public Walle API, each test in a worker process. Fails if any suite's pass count
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


@pytest.mark.timeout(900)
def test_conformance_suite(tmp_path):
    cases = write_suite(tmp_path / "suite")
    workers = int(os.environ.get("WALLE_CONFORMANCE_WORKERS", "2"))
    results = runner.run_suite(cases, "walle", workers=workers, timeout=60)
    report = Path(os.environ.get("WALLE_CONFORMANCE_REPORT", tmp_path / "conformance.md"))
    report.write_text(runner.report(results, "walle"))
    summary = runner.summary(results)
    print(f"\nconformance report: {report}")
    for kind, s in summary.items():
        print(f"  {kind}: {s['passed']}/{s['tests']} passed, {s['crashes']} crashes, {s['timeouts']} timeouts")
    baseline = json.loads((HERE / "baseline.json").read_text())
    crashed = [r.case.name for r in results if r.category == "crash"]
    assert not crashed, f"tests crashed the engine process: {crashed[:10]}"
    for kind, floor in baseline.items():
        if kind.startswith("_"):
            continue
        got = summary.get(kind, {}).get("passed", 0)
        assert got >= floor, f"{kind}: {got} tests pass, below the committed baseline {floor} (see {report})"
