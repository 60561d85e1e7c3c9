"""The concurrent.futures.Executor interface over the runner, with output capture."""

from __future__ import annotations

import concurrent.futures as cf

import pytest
from vm_testlib import MakeBundle
from walle.vm import Runner, TaskExecutor

WAIT = 60
SQUARE = {
    "main.py": """
    import sys
    def run(ctx, inputs):
        print("squaring", inputs["x"])
        print("to stderr", file=sys.stderr)
        return inputs["x"] ** 2
"""
}
SLOW = {"main.py": "import time\ndef run(ctx, inputs):\n    time.sleep(inputs.get('s', 0.5))\n    return inputs['i']\n"}


@pytest.fixture(params=["thread", "process", "interpreter"])
def exec_mode(request: pytest.FixtureRequest) -> str:
    from walle.vm.subinterp import AVAILABLE, UNAVAILABLE_REASON

    if request.param == "interpreter" and not AVAILABLE:
        pytest.skip(UNAVAILABLE_REASON)
    return request.param


def test_submit_map_and_captured_output(exec_mode: str, make_bundle: MakeBundle) -> None:
    with TaskExecutor(workers=2, mode=exec_mode, model_loader="fake_engine:load") as pool:
        name = pool.load(make_bundle("square", SQUARE, extra="[limits]\nconcurrency = 2\n"))
        assert list(pool.map(name, ({"x": x} for x in range(8)), timeout=WAIT)) == [x * x for x in range(8)]
        future = pool.submit(name, {"x": 7})
        assert future.result(WAIT) == 49
        assert future.stdout == "squaring 7\n" and future.stderr == "to stderr\n"
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(name, {"x": 1})


def test_shutdown_waits_or_cancels_waiting_runs(make_bundle: MakeBundle) -> None:
    runner = Runner(workers=1, mode="thread")
    try:
        pool = TaskExecutor(runner)
        name = pool.load(make_bundle("slow", SLOW))
        futures = [pool.submit(name, {"i": i, "s": 0.3}) for i in range(4)]
        for _ in range(WAIT * 100):
            if futures[0].running():
                break
            cf.wait(futures[:1], timeout=0.01)
        pool.shutdown(wait=True, cancel_futures=True)
        assert futures[0].result(WAIT) == 0  # the running one finished, not interrupted
        assert all(f.cancelled() for f in futures[1:])
        # a shared runner stays open for its owner
        assert runner.run(name, {"i": 9, "s": 0}, timeout=WAIT) == 9
        pool2 = TaskExecutor(runner)
        later = [pool2.submit(name, {"i": i, "s": 0.05}) for i in range(3)]
        pool2.shutdown(wait=True)
        assert [f.result(0) for f in later] == [0, 1, 2]
    finally:
        runner.close()
