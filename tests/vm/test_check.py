"""``walle task check`` imports the entry (in a sandboxed worker process), checks its
signature and loads every model; ``walle task --help`` works."""

from __future__ import annotations

import pytest
from vm_testlib import MakeBundle
from walle.cli import main as walle_main
from walle.vm.cli import main

GOOD = {"main.py": "def run(ctx, inputs):\n    return inputs\n"}


def _check(bundle: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["task", "check", bundle])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("def run(ctx, inputs)\n    return 1\n", "main.py, line 1: SyntaxError"),
        ("def other(ctx, inputs):\n    return 1\n", "entry 'main:run': module 'main' has no attribute 'run'"),
        ("run = 42\n", "entry 'main:run': 'run' is not callable (it is an int)"),
        ("def run(ctx):\n    return 1\n", "entry 'main:run': run(ctx) cannot be called as run(ctx, inputs)"),
        ("def run(ctx, inputs, extra):\n    return 1\n", "cannot be called as run(ctx, inputs)"),
        ("import no_such_module_xyz\ndef run(ctx, inputs):\n    pass\n", "ModuleNotFoundError"),
        ("import os\nos._exit(9)\n", "the check process died (exit code 9)"),
    ],
    ids=["syntax", "missing", "not-callable", "too-few", "too-many", "bad-import", "exits"],
)
def test_check_imports_the_entry(
    make_bundle: MakeBundle, capsys: pytest.CaptureFixture[str], source: str, problem: str
) -> None:
    code, out, err = _check(str(make_bundle("t", {"main.py": source})), capsys)
    assert code == 2, out
    assert problem in err
    assert "importlib._bootstrap" not in err and "<frozen importlib" not in err


def test_check_accepts_flexible_signatures(make_bundle: MakeBundle, capsys: pytest.CaptureFixture[str]) -> None:
    for i, source in enumerate(
        ("def run(ctx, inputs, extra=1):\n    pass\n", "def run(*args):\n    pass\n",
         "class Run:\n    def __call__(self, ctx, inputs):\n        pass\nrun = Run()\n")
    ):
        code, out, err = _check(str(make_bundle(f"ok{i}", {"main.py": source})), capsys)
        assert code == 0, err
        assert out.startswith(f"ok: ok{i} 1.0")


def test_check_loads_every_model(make_bundle: MakeBundle, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("walle._walle", reason="walle C++ extension not built")
    bundle = make_bundle(
        "garbage", {**GOOD, "m.walle": "this is not a model"}, extra='[models.m]\npath = "m.walle"\n'
    )
    code = main(["task", "check", str(bundle)])
    err = capsys.readouterr().err
    assert code == 2
    assert "models.m: cannot load" in err and "m.walle" in err


def test_walle_task_help(capsys: pytest.CaptureFixture[str]) -> None:
    for flag in ("--help", "-h"):
        with pytest.raises(SystemExit) as info:
            walle_main(["task", flag])
        assert info.value.code == 0
        out = capsys.readouterr().out
        assert "usage: walle task" in out and "check" in out and "run" in out
    with pytest.raises(SystemExit) as info:
        walle_main(["task", "check", "--help"])
    assert info.value.code == 0
    assert "usage: walle task check" in capsys.readouterr().out
