"""Backpressure from the task VM to ingestion: nothing is dropped for lack of room, and a
close() with tasks in flight leaves them pending for the next start, quietly."""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path

import pytest
from pipeline_testlib import ev
from walle.pipeline import BackpressureError, Count, Pipeline
from walle.vm import Runner

COUNT_EVENTS = "def run(ctx, inputs):\n    return {'n': len(inputs['events'])}\n"


def _bundle(root: Path, queue_length: int) -> Path:
    root.mkdir()
    (root / "task.toml").write_text(f'name = "count"\nversion = "1.0"\nentry = "main:run"\n'
                                    f"[limits]\nqueue_length = {queue_length}\n")
    (root / "main.py").write_text(COUNT_EVENTS)
    return root


def test_full_vm_queue_delays_tasks_and_loses_none(tmp_path: Path) -> None:
    """Defect 1: with the VM's queue of 4 full, tasks were recorded as permanent errors."""
    with Runner(workers=1, mode="thread", grace=1.0) as runner:
        runner.load(_bundle(tmp_path / "count", queue_length=4))
        p = Pipeline(str(tmp_path / "d.db"), sink=runner, device_id="d", commit_every=50)
        p.trigger("t", "a b", task="count")
        p.start()
        for i in range(300):
            p.ingest(ev(2.0 * i, "a"))
            p.ingest(ev(2.0 * i + 1, "b"))
        assert p.drain(120)
        kinds = [kind for _, _, kind, _, _ in p._store.outbox(10_000)]
        assert p.stats()["vm_queue_full"] > 0        # the queue did fill up
        p.close()
    assert kinds == ["task"] * 300


def test_ingest_refuses_with_a_clear_error_when_tasks_pile_up() -> None:
    release = threading.Event()
    p = Pipeline(sink=lambda name, inputs: release.wait(30), device_id="d", commit_every=1,
                 max_pending_tasks=5, backpressure="error")
    p.trigger("t", "a")
    p.start()
    try:
        with pytest.raises(BackpressureError, match="5 tasks are pending"):
            for i in range(100):
                p.ingest(ev(float(i), "a"))
        refused_at = p.offset
        assert refused_at < 100
        release.set()
        assert p.drain(30)
        p.ingest(ev(1000.0, "a"))           # room again: accepted
        assert p.offset == refused_at + 1
    finally:
        release.set()
        p.close()


def test_ingest_blocks_until_tasks_complete() -> None:
    gate = threading.Semaphore(0)
    p = Pipeline(sink=lambda name, inputs: gate.acquire(timeout=30), device_id="d",
                 commit_every=1, max_pending_tasks=3, backpressure_timeout=30)
    p.trigger("t", "a")
    p.start()
    feeder = threading.Thread(target=lambda: [p.ingest(ev(float(i), "a")) for i in range(20)])
    feeder.start()
    for _ in range(20):
        gate.release()
    feeder.join(60)
    assert not feeder.is_alive()
    assert p.drain(30)
    assert p._store.outbox_size() == 20
    p.close()


def test_close_with_pending_tasks_is_quiet_and_they_run_after_restart(tmp_path, capfd,
                                                                    caplog) -> None:
    """Defect 12: close() with tasks still queued printed CancelledError tracebacks."""
    release = threading.Event()

    def slow(name: str, inputs: dict) -> int:
        release.wait(0.05)
        return len(inputs["events"])

    path = str(tmp_path / "c.db")
    p = Pipeline(path, sink=slow, device_id="d", commit_every=1)
    p.trigger("t", "a")
    p.start()
    for i in range(40):
        p.ingest(ev(float(i), "a"))
    p.close(timeout=0.1)
    err = capfd.readouterr().err
    assert "CancelledError" not in err and "Traceback" not in err
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    release.set()
    q = Pipeline(path, sink=slow, device_id="d", commit_every=1)
    q.trigger("t", "a")
    q.start()
    assert q.drain(30)
    rows = q._store.outbox(1000)
    q.close()
    assert sorted(k for _, k, *_ in rows) == sorted(f"trigger:t@{i}#1" for i in range(40))
    assert {kind for _, _, kind, _, _ in rows} == {"task"}


def test_unsent_results_hold_back_ingestion(tmp_path: Path) -> None:
    """The uplink's backpressure: with the collector unreachable, results pile up to
    max_outbox, then ingest refuses (or, by default, waits) instead of growing the store."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/v1/results"    # nobody listens
    p = Pipeline(str(tmp_path / "u.db"), uplink_url=url, device_id="d", commit_every=5,
                 max_outbox=20, backpressure="error",
                 uplink_options={"min_backoff": 0.05, "max_backoff": 0.1})
    p.flow("f").key_by("id").aggregate(n=Count()).emit()      # one result per event
    p.start()
    with pytest.raises(BackpressureError, match="results are waiting to be uplinked"):
        for i in range(100):
            p.ingest(ev(float(i), "a"))
    assert 20 <= p.stats()["outbox"] <= 25 and p.stats()["refused"] == 1
    p.close()
