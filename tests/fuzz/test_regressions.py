"""Every input the fuzzers found (tests/fuzz/regressions, each a crash, sanitizer report or
out-of-memory of fuzz_model) loads in a child process and ends in success or a named
walle error. run.sh also replays them through the sanitized fuzz_model first."""

from __future__ import annotations

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
