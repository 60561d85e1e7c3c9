"""Event time: a bounded future skew keeps one wild timestamp from moving the watermark."""

from __future__ import annotations

import time

import pytest
from pipeline_testlib import ev
from walle.pipeline import Count, EventError, Pipeline, Tumbling


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
