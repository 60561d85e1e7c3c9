"""Runner behaviour in both isolation modes (interpreter mode is skipped before 3.12)."""

from __future__ import annotations

import concurrent.futures as cf
import sys

import pytest
from vm_testlib import MakeBundle
from walle.vm import (
    BundleError,
    QueueFull,
    Runner,
    RunnerClosed,
    TaskCancelled,
    TaskError,
    TaskTimeout,
    UnknownTask,
)

WAIT = 30  # seconds: generous bound on every wait, never an assertion about speed

ECHO = {"main.py": "def run(ctx, inputs):\n    return {'echo': inputs, 'task': ctx.name}\n"}
LOOP = {"main.py": "def run(ctx, inputs):\n    while True:\n        pass\n"}


def test_clashing_module_names_stay_isolated(runner: Runner, make_bundle: MakeBundle) -> None:
    for name, value in (("alpha", 1), ("beta", 2)):
        runner.load(
            make_bundle(
                name,
                {
                    "main.py": """
                import utils
                from pkg import helper
                COUNTER = []
                def run(ctx, inputs):
                    COUNTER.append(1)
                    utils.STATE.append(inputs["v"])
                    return {"value": utils.VALUE, "helper": helper.WHO, "runs": len(COUNTER),
                            "state": list(utils.STATE)}
            """,
                    "utils.py": f"VALUE = {value}\nSTATE = []\n",
                    "pkg/__init__.py": "",
                    "pkg/helper.py": f"import utils\nWHO = 'helper-' + str(utils.VALUE) + '-{name}'\n",
                },
            )
        )
    a = runner.run("alpha", {"v": "a1"}, timeout=WAIT)
    b = runner.run("beta", {"v": "b1"}, timeout=WAIT)
    a2 = runner.run("alpha", {"v": "a2"}, timeout=WAIT)
    assert (a["value"], b["value"]) == (1, 2)
    assert (a["helper"], b["helper"]) == ("helper-1-alpha", "helper-2-beta")
    assert b["runs"] == 1 and b["state"] == ["b1"]  # beta never sees alpha's globals
    assert a2["runs"] == 2 and a2["state"] == ["a1", "a2"]  # a task keeps its own state
    assert "utils" not in sys.modules


def test_raising_task_returns_traceback_and_runner_keeps_serving(
    runner: Runner, make_bundle: MakeBundle
) -> None:
    runner.load(
        make_bundle(
            "boom",
            {
                "main.py": """
        def helper(x):
            raise ValueError(f"bad input {x}")
        def run(ctx, inputs):
            return helper(inputs["x"])
    """
            },
        )
    )
    runner.load(make_bundle("echo", ECHO))
    with pytest.raises(TaskError) as info:
        runner.run("boom", {"x": 7}, timeout=WAIT)
    err = info.value
    assert err.exc_type == "ValueError" and err.message == "bad input 7"
    assert "main.py" in err.traceback and 'raise ValueError(f"bad input {x}")' in err.traceback
    assert "walle/vm" not in err.traceback.split("\n", 2)[1]  # starts in task code
    assert runner.run("echo", {"x": 1}, timeout=WAIT)["echo"] == {"x": 1}


def test_sys_exit_in_task_is_contained(runner: Runner, make_bundle: MakeBundle) -> None:
    runner.load(make_bundle("quitter", {"main.py": "import sys\ndef run(ctx, inputs):\n    sys.exit(3)\n"}))
    with pytest.raises(TaskError, match="SystemExit"):
        runner.run("quitter", {}, timeout=WAIT)
    with pytest.raises(TaskError, match="SystemExit"):
        runner.run("quitter", {}, timeout=WAIT)


def test_pure_python_infinite_loop_times_out(runner: Runner, make_bundle: MakeBundle) -> None:
    runner.load(make_bundle("spin", LOOP, extra="[limits]\nrun_timeout = 0.3\n"))
    runner.load(make_bundle("echo", ECHO))
    spinning = runner.submit("spin", {})
    # while one worker spins, the other keeps serving
    assert runner.run("echo", {"x": 1}, timeout=WAIT)["task"] == "echo"
    with pytest.raises(TaskTimeout, match="exceeded its time limit"):
        spinning.result(WAIT)
    with pytest.raises(TaskTimeout):  # the same task instance is reusable afterwards
        runner.run("spin", {}, timeout=WAIT)
    assert runner.run("echo", {"x": 2}, timeout=WAIT)["echo"] == {"x": 2}


def test_task_that_swallows_interrupts_is_abandoned(runner: Runner, make_bundle: MakeBundle) -> None:
    # swallows every interrupt for 2.5 s (past the 1 s grace), then gives up by itself so
    # the test process can exit: a task that never stops cannot be stopped in-process
    runner.load(
        make_bundle(
            "stubborn",
            {
                "main.py": """
        import time
        def run(ctx, inputs):
            give_up = None
            while True:
                try:
                    while True:
                        pass
                except BaseException:
                    give_up = give_up or time.monotonic() + 2.5
                    if time.monotonic() > give_up:
                        return "gave up"
    """
            },
            extra="[limits]\nrun_timeout = 0.2\n",
        )
    )
    runner.load(make_bundle("echo", ECHO))
    with pytest.raises(TaskTimeout, match="abandoned"):
        runner.run("stubborn", {}, timeout=WAIT)
    # a replacement worker keeps the pool at two: two echo runs still complete
    futures = [runner.submit("echo", {"i": i}) for i in range(4)]
    assert [f.result(WAIT)["echo"]["i"] for f in futures] == [0, 1, 2, 3]


def test_run_timeout_argument_interrupts(runner: Runner, make_bundle: MakeBundle) -> None:
    runner.load(make_bundle("spin", LOOP))
    with pytest.raises(TaskTimeout, match="did not finish within 0.2s"):
        runner.run("spin", {}, timeout=0.2)
    runner.load(make_bundle("echo", ECHO))
    assert runner.run("echo", {}, timeout=WAIT)["task"] == "echo"


def test_cancel_running_and_waiting_runs(runner: Runner, make_bundle: MakeBundle) -> None:
    runner.load(make_bundle("spin", LOOP, extra="[limits]\nqueue_length = 2\n"))
    running = runner.submit("spin", {})
    for _ in range(WAIT * 100):  # concurrency 1: later runs of spin wait in its queue
        if running.running():
            break
        cf.wait([running], timeout=0.01)
    waiting = runner.submit("spin", {})
    waiting2 = runner.submit("spin", {})
    with pytest.raises(QueueFull, match="queue_length = 2"):
        runner.submit("spin", {})
    assert waiting2.cancel() is True
    assert running.cancel() is False  # running: asks it to stop instead
    with pytest.raises(TaskCancelled):
        running.result(WAIT)
    waiting.cancel()
    with pytest.raises((TaskCancelled, cf.CancelledError)):
        waiting.result(WAIT)


def test_malformed_bundle_leaves_runner_serving(runner: Runner, make_bundle: MakeBundle) -> None:
    runner.load(make_bundle("echo", ECHO))
    with pytest.raises(BundleError):
        runner.load(make_bundle("broken", {"main.py": ""}, manifest="name = 'broken'\nentry = 3\n"))
    with pytest.raises(TaskError, match="ZeroDivisionError"):
        runner.load(make_bundle("importfail", {"main.py": "1 / 0\n"}))
    assert runner.tasks == ["echo"]
    assert runner.run("echo", {"ok": True}, timeout=WAIT)["echo"] == {"ok": True}


def test_models_load_once_per_task_and_resources(runner: Runner, make_bundle: MakeBundle) -> None:
    runner.load(
        make_bundle(
            "model",
            {
                "main.py": """
            import fake_engine
            def run(ctx, inputs):
                session = ctx.models["net"]
                out = session.run({"x": inputs["x"]})
                return {"y": out["y"], "loads": len(fake_engine.LOADS), "runs": session.runs,
                        "options": session.options, "labels": ctx.resource_path("labels").read_text()}
        """,
                "net.walle": "weights",
                "labels.txt": "cat",
            },
            extra='[models.net]\npath = "net.walle"\nthreads = 1\n[resources]\nlabels = "labels.txt"\n',
        )
    )
    results = [runner.run("model", {"x": [1.0, 2.5]}, timeout=WAIT) for _ in range(3)]
    assert results[-1]["y"] == [2.0, 5.0]
    assert results[-1]["options"] == {"threads": 1}
    assert results[-1]["labels"] == "cat"
    assert [r["runs"] for r in results] == [1, 2, 3]  # the same session serves every run
    assert results[-1]["loads"] - results[0]["loads"] == 0


def test_buffers_cross_without_numpy(runner: Runner, make_bundle: MakeBundle) -> None:
    runner.load(
        make_bundle(
            "buf",
            {
                "main.py": """
        def run(ctx, inputs):
            view = memoryview(inputs["t"])
            return {"shape": list(view.shape), "format": view.format, "sum": sum(view.cast("B").tolist()),
                    "out": memoryview(bytearray(b"\\x01\\x00\\x02\\x00")).cast("H", [2, 1])}
    """
            },
        )
    )
    data = memoryview(bytearray(range(12))).cast("B", [3, 4])
    result = runner.run("buf", {"t": data}, timeout=WAIT)
    assert result["shape"] == [3, 4] and result["format"] == "B" and result["sum"] == sum(range(12))
    assert memoryview(result["out"]).tolist() == [[1], [2]]


def test_errors_for_unknown_and_closed(mode: str, make_bundle: MakeBundle) -> None:
    runner = Runner(workers=1, mode=mode)
    runner.load(make_bundle("echo", ECHO))
    with pytest.raises(UnknownTask, match="loaded: echo"):
        runner.submit("nope", {})
    runner.unload("echo")
    with pytest.raises(UnknownTask):
        runner.run("echo", {})
    runner.load(make_bundle("echo2", ECHO))
    runner.close()
    with pytest.raises(RunnerClosed):
        runner.submit("echo2", {})


def test_parallel_submits_all_complete(runner: Runner, make_bundle: MakeBundle) -> None:
    runner.load(
        make_bundle(
            "sq",
            {"main.py": "def run(ctx, inputs):\n    return sum(i * i for i in range(inputs['n']))\n"},
            extra="[limits]\nconcurrency = 2\n",
        )
    )
    futures = [runner.submit("sq", {"n": n}) for n in range(20)]
    assert [f.result(WAIT) for f in futures] == [sum(i * i for i in range(n)) for n in range(20)]


def test_unsendable_input_is_rejected_at_submit(mode: str, make_bundle: MakeBundle) -> None:
    """An input that cannot cross to the task is the caller's error, named, not a task failure."""
    import threading

    from walle.vm import InputError

    with Runner(workers=1, mode=mode) as runner:
        runner.load(make_bundle("echo", ECHO))
        if mode == "thread":  # no copy in thread mode: anything goes through as is
            lock = threading.Lock()
            assert runner.run("echo", {"lock": lock}, timeout=WAIT)["echo"]["lock"] is lock
            return
        with pytest.raises(InputError, match="input 'lock'.*cannot be sent"):
            runner.submit("echo", {"ok": 1, "lock": threading.Lock()})
        assert runner.run("echo", {"ok": 1}, timeout=WAIT)["echo"] == {"ok": 1}


def test_stats_count_runs_failures_and_cpu(runner: Runner, make_bundle: MakeBundle) -> None:
    runner.load(
        make_bundle(
            "work",
            {"main.py": """
        def run(ctx, inputs):
            if inputs.get("fail"):
                raise ValueError("no")
            return sum(i * i for i in range(inputs["n"]))
    """},
        )
    )
    for n in (10, 200_000, 300_000):
        runner.run("work", {"n": n}, timeout=WAIT)
    with pytest.raises(TaskError):
        runner.run("work", {"fail": True}, timeout=WAIT)
    stats = runner.stats()["tasks"]["work"]
    assert stats["runs"] == 4 and stats["failures"] == 1 and stats["timeouts"] == 0
    assert stats["cpu_time"] > 0.01  # the 500k squares took CPU, measured on the task's thread
    assert stats["crashes"] == 0 and stats["abandoned"] == 0


def test_buffers_arrive_as_numpy_where_numpy_imports(make_bundle: MakeBundle) -> None:
    """Thread mode passes the caller's array; the process tier rebuilds numpy arrays; a
    sub-interpreter gets numpy arrays too if numpy loads there (numpy 2.x refuses to: it
    then gets memoryviews, until walle.Tensor is the one input type)."""
    np = pytest.importorskip("numpy")
    from walle.vm import subinterp

    task = {"main.py": "def run(ctx, inputs):\n    return type(inputs['x']).__module__ + '.' + type(inputs['x']).__name__\n"}
    modes = ["thread", "process"] + (["interpreter"] if subinterp.AVAILABLE else [])
    for mode in modes:
        with Runner(workers=1, mode=mode) as runner:
            runner.load(make_bundle(f"types-{mode}", task))
            got = runner.run(f"types-{mode}", {"x": np.arange(3)}, timeout=WAIT)
        if mode == "interpreter" and not _numpy_loads_in_subinterpreters():
            assert got == "builtins.memoryview"
        else:
            assert got == "numpy.ndarray", mode


def _numpy_loads_in_subinterpreters() -> bool:
    from walle.vm import subinterp

    interp = subinterp.create()
    try:
        subinterp.run(interp, "import numpy")
        return True
    except subinterp.GuestCrashed:
        return False
    finally:
        subinterp.destroy(interp)


def test_process_only_limits_are_not_silently_ignored(runner: Runner, make_bundle: MakeBundle) -> None:
    bundle = make_bundle("limited", ECHO, extra="[limits]\nmemory_mb = 100\ncpu_time = 2\n")
    with pytest.warns(UserWarning, match=r"limits.memory_mb, limits.cpu_time only apply in mode='process'"):
        runner.load(bundle)
    assert runner.run("limited", {"x": 1}, timeout=WAIT)["echo"] == {"x": 1}
