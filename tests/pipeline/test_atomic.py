"""Atomic batches: state, results and sequence numbers commit together or not at all; a
failed commit loses nothing and a resend from ``offset`` counts nothing twice; an exception in
user code dead-letters its event and leaves the rest of the batch as if it had never been."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pipeline_testlib import build, ev, events
from walle.pipeline import Count, Pipeline, PipelineError, StoreError, Sum, Tumbling

STREAM = [ev(float(i), "a", f"p{i % 3}", v=i % 7) for i in range(600)]


def _build(path: str) -> Pipeline:
    p = Pipeline(path, device_id="d", commit_every=40)
    p.flow("totals").key_by("page").aggregate(n=Count(), v=Sum("args.v"))
    p.flow("win").key_by("page").window(Tumbling(50)).aggregate(n=Count()).emit()
    return p


def _snapshot(p: Pipeline) -> tuple:
    totals = {k: p.query("totals", k) for k in ("p0", "p1", "p2")}
    results = [(k, kind, json.loads(d)) for _, k, kind, _, d in p._store.outbox(10**6)]
    return totals, results


def _disk_full(p: Pipeline) -> None:
    """Real SQLITE_FULL: the database may not grow beyond its current pages."""
    pages = p._store.db.execute("PRAGMA page_count").fetchone()[0]
    p._store.db.execute(f"PRAGMA max_page_count = {pages}")


def test_failed_commit_loses_nothing_and_a_resend_counts_once(tmp_path: Path) -> None:
    """Defects 4 and 5: a failed commit cleared the batch's dirty keys (state lost at the
    next commit), kept the batch in memory (a resend double-counted), and disk full showed
    "cannot rollback - no transaction is active"."""
    ref = _build(":memory:").start()
    ref.ingest_many(STREAM)
    ref.commit()
    expected = _snapshot(ref)
    ref.close()

    path = str(tmp_path / "full.db")
    p = _build(path).start()
    p.ingest_many(STREAM[:100])
    p.commit()
    _disk_full(p)
    failures = 0
    while p.offset < len(STREAM):
        try:
            for e in STREAM[p.offset:]:
                p.ingest(e)
            p.commit()
        except StoreError as exc:
            failures += 1
            assert path in str(exc) and "full" in str(exc)
            assert "cannot rollback" not in str(exc)
            p._store.db.execute("PRAGMA max_page_count = 1073741823")   # space freed
    assert failures == 1
    assert _snapshot(p) == expected
    p.close()
    q = _build(path).start()                        # and the store holds the same
    assert _snapshot(q) == expected
    q.close()


def _boom_on_13(e):
    if e.args.get("v") == 13:
        raise ValueError("bad record")
    return e


def _dl_build(on_error: str = "dead_letter") -> Pipeline:
    p = Pipeline(device_id="d", commit_every=1000, on_error=on_error)
    p.flow("all").key_by("'all'").aggregate(n=Count(), v=Sum("args.v"))
    p.flow("mapped").map(_boom_on_13).key_by("'all'").aggregate(n=Count())
    return p


def test_user_exception_dead_letters_the_event_only() -> None:
    """Defect 6: an exception in a map function left the event half-processed (the first
    flow had counted it) and the half was committed."""
    p = _dl_build().start()
    events = [ev(float(i), "a", v=i) for i in range(20)]
    p.ingest_many(events)          # event 13 raises in the second flow's map
    p.commit()
    assert p.query("all", "all") == {"key": "all", "n": 19, "v": sum(range(20)) - 13}
    assert p.query("mapped", "all")["n"] == 19
    (dead,) = p.dead_letters()
    assert dead["offset"] == 13 and dead["event"]["args"] == {"v": 13}
    assert "ValueError: bad record" in dead["error"]
    assert p.stats()["dead_letters"] == 1
    p.close()


def test_user_exception_can_be_raised_instead() -> None:
    p = _dl_build(on_error="raise").start()
    p.ingest_many([ev(float(i), "a", v=i) for i in range(13)])
    with pytest.raises(PipelineError, match="ValueError: bad record"):
        p.ingest(ev(13.0, "a", v=13))
    p.ingest(ev(14.0, "a", v=14))       # the bad event left no trace
    p.commit()
    assert p.query("all", "all") == {"key": "all", "n": 14, "v": sum(range(13)) + 14}
    assert p.offset == 14 and p.dead_letters() == []
    p.close()


def test_dead_lettered_run_equals_a_run_without_the_bad_events() -> None:
    """Triggers (with a failing ``prepare`` too), windows and sessions: processing a stream
    with bad events gives the results of the stream without them."""
    stream = events(1500)
    bad = {100, 101, 700, 1499}

    def refuse(e):
        if e.args.get("boom"):
            raise RuntimeError("boom")
        return e

    def prepare(p, match):
        if round(match["start_ts"] * 1000) % 5 == 0:       # by content: alike in both runs
            raise KeyError("prepare failed")
        return {"n": match["end_offset"] - match["start_offset"]}

    def pipeline() -> Pipeline:
        p = build(":memory:", commit_every=64)
        p.flow("strict").map(refuse).key_by("page").aggregate(n=Count())
        p.trigger("picky", "page_enter(page=$p) * page_leave(page=$p)", within=60,
                  prepare=prepare)
        return p.start()

    ref = pipeline()
    ref.ingest_many(e for i, e in enumerate(stream) if i not in bad)
    assert ref.drain(30)
    expected = sorted((kind, d) for _, _, kind, _, d in ref._store.outbox(10**6))
    ref_dead = len(ref.dead_letters())
    ref.close()

    p = pipeline()
    p.ingest_many({**e, "args": {**e["args"], "boom": 1}} if i in bad else e
                  for i, e in enumerate(stream))
    assert p.drain(30)
    got = sorted((kind, d) for _, _, kind, _, d in p._store.outbox(10**6))
    dead = [d["offset"] for d in p.dead_letters() if "RuntimeError: boom" in d["error"]]
    p.close()
    assert dead == sorted(bad)
    assert ref_dead >= 1       # prepare failed on its own events in both runs alike
    assert got == expected
