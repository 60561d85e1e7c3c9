"""Every input the fuzzers found (tests/fuzz/regressions, each a crash, sanitizer report or
out-of-memory of fuzz_model) loads in a child process and ends in success or a named
walle error. run.sh also replays them through the sanitized fuzz_model first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..engine.hostile import run_isolated

REGRESSIONS = sorted((Path(__file__).parent / "regressions").iterdir())
NAMED = {None, "Error", "ModelError", "InputError", "UnsupportedOpError", "BackendError"}


@pytest.mark.skipif(not REGRESSIONS, reason="no fuzzer findings recorded")
def test_fuzzer_findings_end_in_named_errors(tmp_path):
    cases = {p.name: (p, None, {}) for p in REGRESSIONS}
    results, _ = run_isolated(cases, tmp_path, memory_limit=8 << 30)  # a crash is a result
    bad = {c: r for c, r in results.items() if r["error"] not in NAMED}
    assert not bad and len(results) == len(cases), bad


CONVERTER_REGRESSIONS = sorted((Path(__file__).parent / "converter-regressions").iterdir())


@pytest.mark.parametrize("path", CONVERTER_REGRESSIONS, ids=lambda p: p.name)
def test_converter_findings_end_in_named_errors_at_once(path, tmp_path):
    """ONNX inputs the converter fuzzer found (tests/fuzz/converter-regressions): each converts or
    raises a walle error within 60 s, in a child process. The timeout-* one (a Gather whose input
    declares a dimension of 2^63 - 1) kept onnx's shape inference busy for minutes."""
    code = ("import sys, onnx\nfrom walle.errors import Error\n"
            "from walle.converters.onnx.convert import convert_model\n"
            "m = onnx.load_from_string(open(sys.argv[1], 'rb').read())\n"
            "try:\n    convert_model(m, source=sys.argv[1])\nexcept Error as e:\n    print('named', type(e).__name__, e)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
