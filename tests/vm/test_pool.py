"""Interpreter mode's pool of sub-interpreters booted ahead of need."""

from __future__ import annotations

import pytest
from vm_testlib import MakeBundle
from walle.vm import Runner, TaskError
from walle.vm.subinterp import AVAILABLE, UNAVAILABLE_REASON

pytestmark = pytest.mark.skipif(not AVAILABLE, reason=UNAVAILABLE_REASON)
WAIT = 30

COUNTER = {
    "main.py": """
    import sys
    SEEN = []
    def run(ctx, inputs):
        SEEN.append(ctx.name)
        return {"seen": list(SEEN), "loader_ready": "fake_engine" in sys.modules}
"""
}


@pytest.mark.parametrize("warm", [0, 1, 3])
def test_each_task_gets_a_fresh_interpreter(warm: int, make_bundle: MakeBundle) -> None:
    with Runner(workers=2, mode="interpreter", model_loader="fake_engine:load", warm_interpreters=warm) as r:
        assert r.wait_warm(timeout=WAIT)
        for name in ("a", "b", "c", "d"):  # more loads than the pool holds
            r.load(make_bundle(name, COUNTER))
        results = {name: r.run(name, {}, timeout=WAIT) for name in ("a", "b", "c", "d")}
        assert r.wait_warm(timeout=WAIT)  # refilled after the loads
    for name, out in results.items():
        assert out["seen"] == [name]  # no task sees another task's module state
        assert out["loader_ready"] is True  # boot imported the model loader already


def test_failed_task_import_does_not_poison_the_pool(make_bundle: MakeBundle) -> None:
    with Runner(workers=1, mode="interpreter", model_loader="fake_engine:load", warm_interpreters=1) as r:
        with pytest.raises(TaskError, match="ZeroDivisionError"):
            r.load(make_bundle("bad", {"main.py": "1 / 0\n"}))
        r.load(make_bundle("good", COUNTER))
        assert r.run("good", {}, timeout=WAIT)["seen"] == ["good"]


def test_unimportable_model_loader_fails_at_first_model_use(make_bundle: MakeBundle) -> None:
    bundle = make_bundle(
        "m",
        {"main.py": "def run(ctx, inputs):\n    return ctx.models['net']\n", "net.walle": "x"},
        extra='[models.net]\npath = "net.walle"\n',
    )
    with Runner(workers=1, mode="interpreter", model_loader="no_such_module:load") as r:
        r.load(bundle)  # the pool's preload failed quietly; loading still works
        with pytest.raises(TaskError, match="ModuleNotFoundError"):
            r.run("m", {}, timeout=WAIT)


def test_negative_pool_size_is_rejected() -> None:
    with pytest.raises(ValueError, match="pool size"):
        Runner(workers=1, mode="interpreter", warm_interpreters=-1)
