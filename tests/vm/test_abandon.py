"""Runs that ignore interrupts: counted, capped, and never a reason for the host to die.

Scenarios that could kill the host run in a subprocess and are judged by its exit code.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from vm_testlib import MakeBundle
from walle.vm import Runner, TaskQuarantined, TaskTimeout
from walle.vm.subinterp import AVAILABLE, UNAVAILABLE_REASON

WAIT = 60
HERE = Path(__file__).resolve().parent
PYTHONPATH = os.pathsep.join([str(HERE.parents[1] / "python"), str(HERE)])

STUBBORN = {
    "main.py": """
    import time
    def run(ctx, inputs):
        while True:  # swallows every interrupt, forever
            try:
                time.sleep(inputs.get("sleep", 0.01))
            except BaseException:
                pass
"""
}
ECHO = {"main.py": "def run(ctx, inputs):\n    return inputs\n"}

ALL_MODES = [
    "thread",
    pytest.param("interpreter", marks=pytest.mark.skipif(not AVAILABLE, reason=UNAVAILABLE_REASON)),
    "process",
]


def _scenario(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "scenario.py"
    script.write_text(textwrap.dedent(code))
    env = dict(os.environ, PYTHONPATH=PYTHONPATH)
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env, check=False
    )


@pytest.mark.parametrize("sleep", [0.01, 30.0], ids=["swallows-interrupts", "long-sleep"])
@pytest.mark.parametrize("mode", ALL_MODES)
def test_host_exits_cleanly_after_abandoned_runs(
    mode: str, sleep: float, make_bundle: MakeBundle, tmp_path: Path
) -> None:
    bundle = make_bundle("stubborn", STUBBORN, extra="[limits]\nrun_timeout = 0.2\n")
    echo = make_bundle("echo", ECHO)
    proc = _scenario(
        f"""
        from walle.vm import Runner, TaskTimeout
        runner = Runner(workers=2, mode={mode!r}, model_loader="fake_engine:load", grace=0.3)
        runner.load({str(bundle)!r})
        runner.load({str(echo)!r})
        try:
            runner.run("stubborn", {{"sleep": {sleep}}}, timeout=60)
        except TaskTimeout as exc:
            print("timeout:", exc)
        print("echo:", runner.run("echo", {{"x": 1}}, timeout=60))
        runner.close()
        print("closed")
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "timeout:" in proc.stdout and "echo: {'x': 1}" in proc.stdout and "closed" in proc.stdout
    assert "Fatal Python error" not in proc.stderr


@pytest.mark.parametrize(
    ("ending", "code"),
    [('raise RuntimeError("host failed after an abandoned run")', 1), ("raise SystemExit(5)", 5),
     ("import sys; sys.exit(0)", 0)],
    ids=["uncaught", "exit-5", "exit-0"],
)
def test_host_keeps_its_exit_code_after_abandoned_runs(
    mode: str, make_bundle: MakeBundle, tmp_path: Path, ending: str, code: int
) -> None:
    """The host's own exit code survives abandoned runs (uncaught error: 1, sys.exit(n): n)."""
    bundle = make_bundle("stubborn", STUBBORN, extra="[limits]\nrun_timeout = 0.2\n")
    proc = _scenario(
        f"""
        from walle.vm import Runner, TaskTimeout
        runner = Runner(workers=1, mode={mode!r}, grace=0.3)
        runner.load({str(bundle)!r})
        try:
            runner.run("stubborn", {{"sleep": 30}}, timeout=60)
        except TaskTimeout:
            pass
        {ending}
        """,
        tmp_path,
    )
    assert proc.returncode == code, proc.stderr[-2000:]
    assert "Fatal Python error" not in proc.stderr
    if code == 1:
        assert "RuntimeError: host failed after an abandoned run" in proc.stderr


def test_abandoned_runs_are_counted_and_capped(mode: str, make_bundle: MakeBundle) -> None:
    with Runner(workers=1, mode=mode, grace=0.2, max_abandoned=2) as runner:
        runner.load(make_bundle("stubborn", STUBBORN, extra="[limits]\nrun_timeout = 0.1\nconcurrency = 4\n"))
        runner.load(make_bundle("echo", ECHO))
        assert runner.run("echo", {"ok": 0}, timeout=WAIT) == {"ok": 0}  # its threads exist before counting
        threads_before = threading.active_count()
        for _ in range(2):
            with pytest.raises(TaskTimeout, match="abandoned"):
                runner.run("stubborn", {"sleep": 3}, timeout=WAIT)
        stats = runner.stats()
        assert stats["abandoned"] == 2 and stats["tasks"]["stubborn"]["abandoned"] == 2
        # at the cap the task is quarantined instead of burning another thread
        with pytest.raises(TaskQuarantined, match="2 abandoned runs"):
            runner.submit("stubborn", {})
        assert runner.run("echo", {"ok": 1}, timeout=WAIT) == {"ok": 1}  # others still served
        assert threading.active_count() <= threads_before + 2 * 2  # a worker (+ interpreter thread) each
