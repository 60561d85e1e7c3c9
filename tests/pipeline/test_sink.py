"""Task sinks: a callable or a Runner-like ``submit() -> Future``; ingestion never waits."""

from __future__ import annotations

import threading
from concurrent.futures import Future

from pipeline_testlib import ev
from walle.pipeline import Count, Pipeline


class FakeRunner:
    """The ``walle.vm`` Runner interface: ``submit(name, inputs) -> Future``; completes the
    futures only when told to."""

    def __init__(self) -> None:
        self.submitted: list[tuple[str, Future]] = []
        self.got = threading.Event()

    def submit(self, name: str, inputs: dict) -> Future:
        fut: Future = Future()
        self.submitted.append((name, fut))
        self.got.set()
        return fut


def test_runner_submit_interface_and_results() -> None:
    runner = FakeRunner()
    p = Pipeline(sink=runner, commit_every=1)
    p.trigger("t", "a b", task="vm_task")
    p.start()
    p.ingest_many([ev(1, "a"), ev(2, "b")] * 3)   # ingestion goes on with futures pending
    assert p.offset == 6
    assert runner.got.wait(10)
    for _ in range(100):                          # bounded wait for the dispatcher
        if len(runner.submitted) == 3:
            break
        threading.Event().wait(0.02)
    assert [n for n, _ in runner.submitted] == ["vm_task"] * 3
    runner.submitted[0][1].set_result({"score": 1})
    runner.submitted[1][1].set_exception(RuntimeError("boom"))
    runner.submitted[2][1].set_result({"score": 3})
    assert p.drain(10)
    rows = {k: (kind, data) for _, k, kind, _, data in p._store.outbox(10)}
    assert sorted(kind for kind, _ in rows.values()) == ["task", "task", "task_error"]
    assert any("RuntimeError: boom" in d for _, d in rows.values())
    p.close()


def test_slow_callable_does_not_block_ingestion() -> None:
    release = threading.Event()
    started = threading.Event()

    def slow(name: str, inputs: dict) -> int:
        started.set()
        assert release.wait(30)
        return len(inputs["events"])

    p = Pipeline(sink=slow, commit_every=1)
    p.trigger("t", "a")
    p.start()
    p.ingest(ev(1, "a"))
    assert started.wait(10)           # the task is running and blocked ...
    for i in range(2, 500):           # ... and events still flow
        p.ingest(ev(float(i), "a"))
    assert p.offset == 499
    release.set()
    assert p.drain(30)
    assert p._store.outbox_size() == 499
    p.close()


def test_prepare_snapshots_inputs_at_fire_time() -> None:
    seen = []
    p = Pipeline(sink=lambda name, inputs: seen.append(inputs), commit_every=1)
    p.flow("n").key_by("'all'").aggregate(n=Count())
    p.trigger("t", "b", prepare=lambda pl, m: {"n": pl.query("n", "all")["n"],
                                                 "end": m["end_offset"]})
    p.start()
    p.ingest_many([ev(1, "a"), ev(2, "b"), ev(3, "a"), ev(4, "b")])
    assert p.drain(10)
    assert sorted(s["end"] for s in seen) == [1, 3]
    # triggers see an event before the flows do: n counts the events before it
    assert sorted(s["n"] for s in seen) == [1, 3]
    p.close()
