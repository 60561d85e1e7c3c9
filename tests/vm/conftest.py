"""Fixtures for the task-VM tests: bundle builders and a runner per isolation mode."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # fake_engine must be importable in sub-interpreters too

from vm_testlib import MakeBundle
from walle.vm import Runner
from walle.vm.subinterp import AVAILABLE, UNAVAILABLE_REASON


@pytest.fixture
def make_bundle(tmp_path: Path) -> MakeBundle:
    """``make_bundle(name, {"main.py": src, ...}, manifest_extra="...")`` -> bundle dir."""

    def make(
        name: str,
        files: dict[str, str],
        *,
        entry: str = "main:run",
        extra: str = "",
        manifest: str | None = None,
    ) -> Path:
        root = tmp_path / name
        root.mkdir()
        if manifest is None:
            manifest = f'name = "{name}"\nversion = "1.0"\nentry = "{entry}"\n' + textwrap.dedent(extra)
        (root / "task.toml").write_text(manifest)
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))
        return root

    return make


MODES = [
    "thread",
    pytest.param(
        "interpreter",
        marks=pytest.mark.skipif(not AVAILABLE, reason=UNAVAILABLE_REASON),
    ),
]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def runner(mode: str) -> Iterator[Runner]:
    with Runner(workers=2, mode=mode, model_loader="fake_engine:load", grace=1.0) as r:
        yield r
