"""Shared fixtures: models are built and exported here, once per test session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parent))  # environment_check; appended, so tests/ never shadows a package
from environment_check import SkipReport

_skips = SkipReport()
_problems: list[str] = []
_backend_lines: list[str] = []


def pytest_runtest_logreport(report) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _skips.add(report.longrepr)


def pytest_collectreport(report) -> None:
    if report.skipped:
        _skips.add(report.longrepr)


def _is_xdist_worker(config) -> bool:
    return getattr(config, "workerinput", None) is not None


def pytest_sessionfinish(session, exitstatus) -> None:
    """A skip for something this machine has, or a backend whose driver is present but that is
    missing or unusable, fails the session (tests/environment_check.py)."""
    if _is_xdist_worker(session.config):
        return
    lines, backend_problems = _skips.backend_lines()
    _backend_lines[:] = lines
    _problems[:] = backend_problems + _skips.skip_problems()
    if _problems and session.exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter) -> None:
    """Which backends this run had, and why tests were skipped."""
    if _is_xdist_worker(terminalreporter.config):
        return
    tr = terminalreporter
    tr.section("Walle test environment")
    tr.write_line("backends:")
    for line in _backend_lines:
        tr.write_line(line)
    tr.write_line(f"skipped tests by reason ({sum(_skips.skips.values())} in all):")
    for reason, count in sorted(_skips.skips.items(), key=lambda kv: -kv[1]):
        tr.write_line(f"  {count:5d}  {reason}")
    for problem in _problems:
        tr.write_line(f"ENVIRONMENT FAILURE: {problem}", red=True, bold=True)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("models"))


_exported: dict[str, tuple[str, dict]] = {}


@pytest.fixture(scope="session")
def exported_model(model_dir):
    """exported_model(name) -> (onnx path, example inputs); torch export runs once per name."""
    torch = pytest.importorskip("torch", reason="torch is needed to build the reference models")
    torch.set_num_threads(1)
    from walle.models import export_model

    def get(name: str) -> tuple[str, dict]:
        if name not in _exported:
            path = os.path.join(model_dir, f"{name}.onnx")
            _exported[name] = (path, export_model(name, path))
        return _exported[name]

    return get
