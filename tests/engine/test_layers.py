"""The layers point one way (issue 23): the engine (csrc/) never includes a backend's code
(backends/), the backend interface (csrc/backend/) sits below everything that plans and runs
(it includes only core/, ops/ and itself), the model structures (csrc/model/) know nothing of
sessions, and core/ includes only core/. The check reads every
#include "..." of the C++ sources."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CSRC, BACKENDS = ROOT / "csrc", ROOT / "backends"
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)
# What each folder of csrc/ may include from csrc/ (folders below it, and itself); generated
# headers (backend_list.h, op_codes, the model reader) live in the build folder.
ALLOWED = {
    "core": {"core"},
    "graph": {"core", "graph"},
    "ops": {"core", "ops"},
    "text": {"core", "text"},
    "model": {"core", "graph", "text", "model"},
    "backend": {"core", "ops", "backend"},
}


def includes(folder: Path) -> list[tuple[str, str]]:
    out = []
    for path in sorted(folder.rglob("*")):
        if path.suffix in (".cpp", ".h", ".cu", ".cuh", ".inc", ".def"):
            for name in INCLUDE.findall(path.read_text(errors="replace")):
                out.append((str(path.relative_to(ROOT)), name))
    return out


def test_the_engine_includes_no_backend_code():
    bad = [(src, name) for src, name in includes(CSRC)
           if (BACKENDS / name).exists() and not (CSRC / name).exists()]
    assert not bad, bad


def test_lower_layers_include_nothing_above_them():
    bad = []
    for folder, allowed in ALLOWED.items():
        for src, name in includes(CSRC / folder):
            top = name.split("/")[0]
            if (CSRC / name).exists() and top not in allowed:
                bad.append((src, name))
    assert not bad, bad


def test_the_check_sees_the_includes():
    """The scan itself: it finds the session including the backend interface."""
    assert ("csrc/runtime/session.h", "backend/backend.h") in includes(CSRC / "runtime")
