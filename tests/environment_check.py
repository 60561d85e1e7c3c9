"""What this machine provides for the optional suites, and the session's skip report.

A test may be skipped only for something this machine lacks. The session prints every skip
reason with its count, and fails when a test was skipped for a requirement that is present here
(a backend whose driver is installed, chromium, PostgreSQL, torch, ...), or when a device backend
whose driver is installed is missing from the build or unusable: a green run must never hide a
build that silently left a backend out. Used by tests/conftest.py.
"""

from __future__ import annotations

import ctypes.util
import glob
import importlib.util
import re
import shutil
from collections.abc import Callable
from pathlib import Path


def _icd(pattern: str) -> bool:
    return any(glob.glob(pattern))


def _cpu_flag(flag: str) -> bool:
    try:
        return f" {flag}" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def _postgres() -> bool:
    return shutil.which("initdb") is not None or _icd("/usr/lib/postgresql/*/bin/initdb")


# requirement -> (pattern of the skip reasons that name it, is it present on this machine?)
REQUIREMENTS: dict[str, tuple[str, Callable[[], bool]]] = {
    "opencl": (r"\bopencl\b", lambda: _icd("/etc/OpenCL/vendors/*.icd")),
    "vulkan": (r"\bvulkan\b", lambda: _icd("/usr/share/vulkan/icd.d/*.json") or _icd("/etc/vulkan/icd.d/*.json")),
    "cuda": (r"\bcuda\b", lambda: Path("/dev/nvidiactl").exists() and ctypes.util.find_library("cuda") is not None),
    "a device backend": (r"no device backend", lambda: any(REQUIREMENTS[b][1]() for b in ("opencl", "vulkan"))),
    "chromium": (r"\bchromium\b", lambda: shutil.which("chromium") is not None),
    "postgresql": (r"postgresql|initdb", _postgres),
    "torch": (r"\btorch\b", lambda: importlib.util.find_spec("torch") is not None),
    "onnxruntime": (r"\bonnxruntime\b", lambda: importlib.util.find_spec("onnxruntime") is not None),
    "avx512": (r"avx-?512", lambda: _cpu_flag("avx512f")),
}
DEVICE_BACKENDS = ("opencl", "vulkan", "cuda")


class SkipReport:
    """Collects skip reasons over a session (on the xdist controller too) and judges them."""

    def __init__(self) -> None:
        self.skips: dict[str, int] = {}
        self._present: dict[str, bool] = {}

    def present(self, requirement: str) -> bool:
        if requirement not in self._present:
            self._present[requirement] = bool(REQUIREMENTS[requirement][1]())
        return self._present[requirement]

    def add(self, longrepr) -> None:
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
        reason = reason.removeprefix("Skipped: ")
        self.skips[reason] = self.skips.get(reason, 0) + 1

    def backend_lines(self) -> tuple[list[str], list[str]]:
        """(a line per backend, problems): a device backend whose driver is present must be
        built and usable."""
        import walle

        lines, problems = [], []
        for b in walle.backends(include_missing=True):
            name = str(b)
            state = "available" if b.available else f"unavailable: {b.reason}"
            lines.append(f"  {name:14s} {state}")
            if name in DEVICE_BACKENDS and not b.available and self.present(name):
                problems.append(f"backend {name} is {state}, although this machine has its driver")
        return lines, problems

    def skip_problems(self) -> list[str]:
        problems = []
        for reason, count in sorted(self.skips.items()):
            for requirement, (pattern, _) in REQUIREMENTS.items():
                if re.search(pattern, reason, re.IGNORECASE) and self.present(requirement):
                    problems.append(f"{count} test(s) skipped for {requirement}, which this machine has: {reason}")
                    break
        return problems
