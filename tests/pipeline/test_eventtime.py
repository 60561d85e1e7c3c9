"""Event time: a bounded future skew keeps one wild timestamp from moving the watermark."""

from __future__ import annotations

import json
import time

import pytest
from pipeline_testlib import ev
from walle.pipeline import Count, EventError, Pipeline, Session, Tumbling


def _windowed(**options) -> Pipeline:
    p = Pipeline(device_id="d", commit_every=10, **options)
    p.flow("w").key_by("id").window(Tumbling(10)).aggregate(n=Count()).emit()
    return p.start()


def test_far_future_event_is_rejected_and_the_watermark_stays() -> None:
    """Defect 7: one event ten years ahead moved the watermark forever; every later event
    was late."""
    p = _windowed()
    now = time.time()
    p.ingest(ev(now - 100, "a"))
    with pytest.raises(EventError, match="'ts'.*future"):
        p.ingest(ev(now + 10 * 365 * 86400, "a"))
    for i in range(50):
        p.ingest(ev(now - 99 + i, "a"))
    assert p.watermark < now
    assert p.stats()["late"] == 0
    p.close()


def test_far_future_event_can_be_clamped() -> None:
    clock = [1_000_000.0]
    p = _windowed(max_future_skew=60.0, future_policy="clamp", clock=lambda: clock[0])
    p.ingest(ev(999_990.0, "a"))
    p.ingest(ev(5_000_000.0, "a"))                  # clamped to now + 60
    assert p.watermark == 1_000_060.0
    p.close()


def test_out_of_orderness_keeps_windows_open_for_late_events() -> None:
    strict, tolerant = _windowed(), _windowed(out_of_orderness=5.0)
    stream = [ev(1.0, "a"), ev(12.0, "a"), ev(9.0, "a"), ev(25.0, "a")]
    for p in (strict, tolerant):
        p.ingest_many(stream)
        p.commit()
    counts = {name: [json.loads(d)["n"] for *_, d in p._store.outbox(100)]
              for name, p in (("strict", strict), ("tolerant", tolerant))}
    assert counts == {"strict": [1, 1], "tolerant": [2, 1]}   # [0,10) and [10,20)
    assert strict.stats()["late"] == 1 and tolerant.stats()["late"] == 0
    assert tolerant.watermark == 20.0
    strict.close()
    tolerant.close()


def test_late_records_go_to_the_side_output() -> None:
    late = []
    p = Pipeline(device_id="d")
    p.flow("w").key_by("id").window(Tumbling(10)).aggregate(n=Count(), late=late.append).emit()
    p.start()
    p.ingest_many([ev(1.0, "a"), ev(15.0, "a"), ev(3.0, "a", k=1)])
    assert [(r["key"], r["ts"], r["record"].args) for r in late] == [("a", 3.0, {"k": 1})]
    p.close()


def test_end_of_input_flushes_open_windows() -> None:
    p = Pipeline(device_id="d")
    p.flow("w").key_by("id").window(Tumbling(10)).aggregate(n=Count()).emit()
    p.flow("s").key_by("page").window(Session("enter")).aggregate(n=Count()).emit()
    p.start()
    p.ingest_many([ev(1.0, "a", "x"), ev(2.0, "enter", "x"), ev(3.0, "b", "x")])
    p.commit()
    assert p._store.outbox_size() == 0            # nothing has closed yet
    p.end_of_input()
    got = sorted((k.split("@")[0], json.loads(d)["n"]) for _, k, _, _, d in p._store.outbox(10))
    assert got == [("s.2", 2), ("w.2", 1), ("w.2", 1), ("w.2", 1)]
    p.close()


def test_idle_source_lets_event_time_follow_the_wall_clock() -> None:
    clock = [1000.0]
    p = _windowed(idle_timeout=30.0, clock=lambda: clock[0])
    p.ingest_many([ev(100.0, "a"), ev(105.0, "a")])
    assert not p.tick()                      # not idle yet
    clock[0] += 20
    assert not p.tick() and p._store.outbox_size() == 0
    clock[0] += 20                           # 40 s without events: [100, 110) may close
    assert p.tick()
    assert p.watermark == 145.0
    assert [json.loads(d)["n"] for *_, d in p._store.outbox(10)] == [2]
    p.close()
