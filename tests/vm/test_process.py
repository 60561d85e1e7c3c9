"""The process tier: tasks in worker processes forked from a warm template.

Every way a worker can die (exit, signal, out of memory) is a named error for that run
only; the worker is replaced and the other runs never notice.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from vm_testlib import MakeBundle
from walle.vm import Runner, TaskCrashed, TaskError, TaskLimitExceeded, TaskTimeout

WAIT = 60

ECHO = {"main.py": "import os\ndef run(ctx, inputs):\n    return {'echo': inputs, 'pid': os.getpid()}\n"}
CRASHERS = {
    "exit7": ("import os\ndef run(ctx, inputs):\n    os._exit(7)\n", "exit code 7"),
    "segv": ("import ctypes\ndef run(ctx, inputs):\n    ctypes.string_at(0)\n", "SIGSEGV"),
    "sigkill": ("import os, signal\ndef run(ctx, inputs):\n    os.kill(os.getpid(), signal.SIGKILL)\n", "SIGKILL"),
}


@pytest.fixture
def prunner() -> Iterator[Runner]:
    with Runner(workers=2, mode="process", model_loader="fake_engine:load", grace=1.0) as r:
        yield r


@pytest.mark.parametrize("name", sorted(CRASHERS))
def test_dead_worker_is_a_named_error_and_others_complete(
    prunner: Runner, make_bundle: MakeBundle, name: str
) -> None:
    source, named = CRASHERS[name]
    prunner.load(make_bundle(name, {"main.py": source}))
    prunner.load(make_bundle("echo", ECHO, extra="[limits]\nconcurrency = 2\nqueue_length = 200\n"))
    crashes = [prunner.submit(name, {}) for _ in range(3)]
    echoes = [prunner.submit("echo", {"i": i}) for i in range(100)]
    assert [f.result(WAIT)["echo"]["i"] for f in echoes] == list(range(100))
    for future in crashes:
        with pytest.raises(TaskCrashed, match=named) as info:
            future.result(WAIT)
        assert info.value.task == name
    assert prunner.run("echo", {"i": -1}, timeout=WAIT)["pid"] != os.getpid()
    stats = prunner.stats()["tasks"][name]
    assert stats["runs"] == 3 and stats["crashes"] == 3 and stats["failures"] == 3


def test_out_of_memory_and_huge_allocation_are_named(prunner: Runner, make_bundle: MakeBundle) -> None:
    limits = "[limits]\nmemory_mb = 300\n"
    prunner.load(
        make_bundle(
            "leak",
            {"main.py": "BLOCKS = []\ndef run(ctx, inputs):\n    while True:\n        BLOCKS.append(bytearray(16 << 20))\n"},
            extra=limits,
        )
    )
    prunner.load(make_bundle("huge", {"main.py": "def run(ctx, inputs):\n    return len(bytearray(10 << 30))\n"}, extra=limits))
    prunner.load(make_bundle("echo", ECHO, extra="[limits]\nqueue_length = 200\n"))
    bad = [prunner.submit("leak", {}), prunner.submit("huge", {})]
    echoes = [prunner.submit("echo", {"i": i}) for i in range(100)]
    assert [f.result(WAIT)["echo"]["i"] for f in echoes] == list(range(100))
    for future in bad:
        with pytest.raises(TaskLimitExceeded, match=r"memory limit \(limits.memory_mb = 300\)"):
            future.result(WAIT)
    # the leaking worker was replaced: its 300 MiB are gone, and the task runs again
    with pytest.raises(TaskLimitExceeded):
        prunner.run("leak", {}, timeout=WAIT)
    assert prunner.stats()["tasks"]["leak"]["peak_memory"] >= 200 << 20


def test_cpu_time_limit_kills_the_worker(prunner: Runner, make_bundle: MakeBundle) -> None:
    prunner.load(
        make_bundle(
            "burn",
            {"main.py": """
        def run(ctx, inputs):
            while True:
                try:
                    while True:
                        pass
                except BaseException:
                    pass  # swallows every interrupt: only a real kill stops it
    """},
            extra="[limits]\ncpu_time = 1\n",
        )
    )
    prunner.load(make_bundle("echo", ECHO))
    with pytest.raises(TaskLimitExceeded, match=r"CPU time limit \(limits.cpu_time = 1"):
        prunner.run("burn", {}, timeout=WAIT)
    assert prunner.run("echo", {"i": 1}, timeout=WAIT)["echo"] == {"i": 1}


def test_wall_time_limit_kills_a_task_that_ignores_interrupts(
    prunner: Runner, make_bundle: MakeBundle, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    prunner.load(
        make_bundle(
            "stubborn",
            {"main.py": f"""
        import os, time
        def run(ctx, inputs):
            open({str(pid_file)!r}, "w").write(str(os.getpid()))
            while True:
                try:
                    time.sleep(10)
                except BaseException:
                    pass
    """},
            extra="[limits]\nrun_timeout = 0.3\n",
        )
    )
    with pytest.raises(TaskTimeout, match="killed"):
        prunner.run("stubborn", {}, timeout=WAIT)
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):  # really gone, not abandoned
        for _ in range(WAIT * 10):
            os.kill(pid, 0)
            time.sleep(0.1)
    stats = prunner.stats()
    assert stats["tasks"]["stubborn"]["timeouts"] == 1 and stats["abandoned"] == 0


def test_interrupt_stops_a_sleeping_task(prunner: Runner, make_bundle: MakeBundle) -> None:
    prunner.load(make_bundle("sleepy", {"main.py": "import time\ndef run(ctx, inputs):\n    time.sleep(60)\n"}))
    with pytest.raises(TaskTimeout, match="interrupted"):
        prunner.run("sleepy", {}, timeout=0.5)


def test_max_retries_reruns_a_crashed_run(prunner: Runner, make_bundle: MakeBundle, tmp_path: Path) -> None:
    marker = tmp_path / "crashed-once"
    source = f"""
        import os
        def run(ctx, inputs):
            if not os.path.exists({str(marker)!r}):
                open({str(marker)!r}, "w").close()
                os._exit(3)
            return "second try"
    """
    prunner.load(make_bundle("flaky", {"main.py": source}, extra="[limits]\nmax_retries = 1\n"))
    assert prunner.run("flaky", {}, timeout=WAIT) == "second try"
    marker.unlink()
    prunner.load(make_bundle("flaky0", {"main.py": source}))
    with pytest.raises(TaskCrashed, match="exit code 3"):
        prunner.run("flaky0", {}, timeout=WAIT)


def test_process_tier_keeps_task_state_and_reports_errors(prunner: Runner, make_bundle: MakeBundle) -> None:
    prunner.load(
        make_bundle(
            "counter",
            {"main.py": """
        import fake_engine
        def run(ctx, inputs):
            ctx.state["n"] = ctx.state.get("n", 0) + 1
            if inputs.get("fail"):
                raise ValueError("asked to fail")
            return {"n": ctx.state["n"], "y": ctx.models["net"].run({"x": inputs["x"]})["y"]}
    """, "net.walle": "w"},
            extra='[models.net]\npath = "net.walle"\n',
        )
    )
    assert prunner.run("counter", {"x": [1.0]}, timeout=WAIT) == {"n": 1, "y": [2.0]}
    with pytest.raises(TaskError, match="asked to fail"):
        prunner.run("counter", {"fail": True}, timeout=WAIT)
    assert prunner.run("counter", {"x": [3.0]}, timeout=WAIT) == {"n": 3, "y": [6.0]}


def test_worker_dying_at_import_fails_the_load_only(prunner: Runner, make_bundle: MakeBundle) -> None:
    with pytest.raises(TaskCrashed, match=r"died \(exit code 4\) while importing the task"):
        prunner.load(make_bundle("dies", {"main.py": "import os\nos._exit(4)\n"}))
    prunner.load(make_bundle("echo", ECHO))
    assert prunner.run("echo", {"i": 1}, timeout=WAIT)["echo"] == {"i": 1}
    assert prunner.tasks == ["echo"]


def test_outputs_that_cannot_cross_are_a_task_error(prunner: Runner, make_bundle: MakeBundle) -> None:
    prunner.load(make_bundle("lock", {"main.py": "import threading\ndef run(ctx, inputs):\n    return threading.Lock()\n"}))
    with pytest.raises(TaskError, match="cannot be sent back to the host"):
        prunner.run("lock", {}, timeout=WAIT)


def test_a_killed_template_is_restarted(prunner: Runner, make_bundle: MakeBundle) -> None:
    prunner.load(make_bundle("echo", ECHO))
    assert prunner.run("echo", {"i": 1}, timeout=WAIT)["echo"] == {"i": 1}
    template = prunner._forkserver._proc  # type: ignore[union-attr]
    template.kill()
    template.wait(WAIT)
    prunner.load(make_bundle("echo2", ECHO))  # may use a spare forked before; then forks anew
    prunner.load(make_bundle("echo3", ECHO))
    assert prunner.run("echo3", {"i": 3}, timeout=WAIT)["echo"] == {"i": 3}
    assert prunner.run("echo", {"i": 2}, timeout=WAIT)["echo"] == {"i": 2}  # its worker lives on
