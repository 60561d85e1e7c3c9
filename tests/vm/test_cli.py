"""``walle task check`` / ``walle task run`` through walle.vm.cli.main."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from vm_testlib import MakeBundle
from walle.vm.cli import main

TASK = {"main.py": "def run(ctx, inputs):\n    return {'double': inputs['x'] * 2, 'name': ctx.name}\n"}


def test_check_ok_and_bad(make_bundle: MakeBundle, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["task", "check", str(make_bundle("ok", TASK))]) == 0
    assert "ok: ok 1.0 (entry main:run" in capsys.readouterr().out
    bad = make_bundle(
        "bad", TASK, manifest="name = 'bad'\nversion = '1'\nentry = 'main:run'\n[limits]\nfoo = 1\n"
    )
    assert main(["check", str(bad)]) == 2
    assert "task.toml: limits.foo: unknown key" in capsys.readouterr().err


def test_run_with_json_and_npy_inputs(
    make_bundle: MakeBundle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = str(make_bundle("runme", TASK))
    assert main(["task", "run", bundle, "--input", "x=21"]) == 0
    assert json.loads(capsys.readouterr().out) == {"double": 42, "name": "runme"}
    np = pytest.importorskip("numpy", reason="numpy needed for .npy inputs")
    np.save(tmp_path / "x.npy", np.arange(3, dtype=np.float32))
    assert (
        main(
            [
                "task",
                "run",
                bundle,
                "--input",
                f"x={tmp_path / 'x.npy'}",
                "--output-dir",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["double"]["values"] == [0.0, 2.0, 4.0]
    assert np.load(tmp_path / "out" / "double.npy").tolist() == [0.0, 2.0, 4.0]


def test_run_reports_task_failure(make_bundle: MakeBundle, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = str(make_bundle("fails", {"main.py": "def run(ctx, inputs):\n    raise KeyError('missing')\n"}))
    assert main(["task", "run", bundle]) == 1
    err = capsys.readouterr().err
    assert "raised KeyError" in err and "Traceback" in err


def test_python_dash_m(make_bundle: MakeBundle) -> None:
    bundle = str(make_bundle("dashm", TASK))
    env_path = str(Path(__file__).resolve().parents[2] / "python")
    proc = subprocess.run(
        [sys.executable, "-m", "walle.vm", "task", "check", bundle],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "ok: dashm" in proc.stdout


def test_run_shows_what_the_task_printed(make_bundle: MakeBundle, capsys: pytest.CaptureFixture[str]) -> None:
    task = {"main.py": "def run(ctx, inputs):\n    print('hello from the task')\n    return 1\n"}
    for mode in ("thread", "process"):
        assert main(["task", "run", str(make_bundle(f"talk-{mode}", task)), "--mode", mode]) == 0
        out = capsys.readouterr()
        assert json.loads(out.out) == 1 and "hello from the task" in out.err
