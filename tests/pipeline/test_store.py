"""The SQLite store: WAL, checkpoint/restore at batch boundaries, retention."""

from __future__ import annotations

import os
import random
import sqlite3

import pytest
from pipeline_testlib import build, ev, events
from walle.pipeline import Count, Pipeline, Retention, StoreError
from walle.pipeline.pipeline import _row_event
from walle.pipeline.store import Store


def outbox(p: Pipeline) -> dict[str, tuple[str, str]]:
    return {k: (kind, data) for _, k, kind, _, data in p._store.outbox(10**6)}


def test_store_uses_wal(tmp_path) -> None:
    Store(str(tmp_path / "s.db")).close()
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_restart_without_commit_resumes_at_last_batch(tmp_path) -> None:
    """Abandoning a pipeline without close() is what a kill leaves: the restart replays the
    uncommitted events and ends with the same state and results as one run."""
    stream = events(1200)
    ref = build(":memory:").start()
    ref.ingest_many(stream)
    ref.drain(30)
    expected = outbox(ref)
    ref.close()

    path = str(tmp_path / "dev.db")
    for stop in (333, 700, 701, 1000):
        p = build(path).start()
        p.ingest_many(stream[p.offset:stop])
        p.drain(30)       # commits; the tasks of this batch complete
        p.ingest_many(stream[p.offset:stop + 37])   # uncommitted tail: lost with the process
        p._dispatcher.close()
        p._store.close()  # no commit: like a crash
    p = build(path).start()
    assert p.offset == 1000
    p.ingest_many(stream[p.offset:])
    assert p.drain(30)
    assert outbox(p) == expected
    p.close()


def test_retention_by_age_and_size(tmp_path) -> None:
    p = Pipeline(str(tmp_path / "r.db"), commit_every=100,
                 retention=Retention(max_age=50, max_bytes=10**9, every=1))
    p.start()
    p.ingest_many(ev(float(i), "a", "x" * 50) for i in range(1000))
    p.commit()
    offs = [r[0] for r in p._store.events(0, 10**6)]
    assert min(offs) >= 1000 - 50 - 100 and max(offs) == 999
    p.close()

    small = Pipeline(str(tmp_path / "s.db"), commit_every=100,
                     retention=Retention(max_bytes=200_000, every=1)).start()
    small.ingest_many(ev(float(i), "a", "p" * 100) for i in range(20_000))
    small.commit()
    assert small._store.size_bytes() <= 200_000 + 64 * 1024
    assert len(small._store.events(0, 10**6)) < 20_000
    small.close()


def test_wrong_schema_version(tmp_path) -> None:
    s = Store(str(tmp_path / "v.db"))
    s.set_meta({"schema": "999"})
    s.close()
    try:
        Store(str(tmp_path / "v.db"))
    except StoreError as exc:
        assert "schema version 999" in str(exc)
    else:
        raise AssertionError("expected StoreError")


def test_window_events_come_from_store_when_not_in_memory(tmp_path) -> None:
    p = Pipeline(str(tmp_path / "w.db"), commit_every=10).start()
    p.ingest_many(ev(float(i), "a", items=[f"i{i}"], n=i) for i in range(10_000))
    p.commit()
    got = p.window_events(5, 7)
    assert [(e.ts, e.item, e.args) for e in got] == [(5.0, "i5", {"n": 5}), (6.0, "i6", {"n": 6}),
                                                   (7.0, "i7", {"n": 7})]
    assert [e.ts for e in p.window_events(9998, 9999)] == [9998.0, 9999.0]
    p.close()


def _filled(path: str) -> None:
    p = Pipeline(path, device_id="d", commit_every=100)
    p.flow("f").key_by("id").aggregate(n=Count())
    p.start()
    p.ingest_many(ev(float(i), f"k{i % 500}", "x" * 50) for i in range(20_000))
    p.close()


def test_corrupted_store_is_a_store_error_naming_the_file(tmp_path) -> None:
    """Defect 10: a damaged page went unnoticed at open (the pipeline started) or surfaced
    later as a raw sqlite3 error."""
    path = str(tmp_path / "c.db")
    _filled(path)
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.seek(size // 2)
        f.write(random.Random(3).randbytes(8192))
    with pytest.raises(StoreError, match=f"store {path!r}.*integrity"):
        Pipeline(path, device_id="d").start()


def test_a_file_that_is_not_a_store_is_a_store_error(tmp_path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(random.Random(4).randbytes(50_000))
    with pytest.raises(StoreError, match="junk.db"):
        Pipeline(str(path), device_id="d").start()


def test_items_and_args_round_trip_any_string(tmp_path) -> None:
    """Defect 11: items were joined with \\x1f, so an item containing it came back as two."""
    p = Pipeline(str(tmp_path / "r.db"), device_id="d", commit_every=1)
    p.start()
    odd = [["a\x1fb", "\x00", "é\n\t\"'", "\U0001f600"], ["[x", "y"], ["plain", "two"], ["[]"]]
    for i, items in enumerate(odd):
        p.ingest(ev(float(i), "x", "p", items=items, s="\x1f\x00"))
    p.commit()
    got = [_row_event(row) for row in p._store.events(0, 10)]
    assert [list(e.items) for e in got] == odd
    assert all(e.args == {"s": "\x1f\x00"} for e in got)
    p.close()


def test_schema_1_store_is_migrated(tmp_path) -> None:
    """A store written before stream ids and epochs opens, keeps its results under the
    stream "" and reads its items back, those starting with "[" included."""
    path = str(tmp_path / "v1.db")
    s = Store(path)
    with s.transaction() as db:
        db.execute("ALTER TABLE outbox DROP COLUMN epoch")
        db.execute("INSERT INTO events VALUES (0, 1.0, 'a', '', '[x\x1fy', '')")
        db.execute("INSERT INTO events VALUES (1, 2.0, 'a', '', 'i1\x1fi2', '')")
        db.execute("INSERT INTO outbox VALUES (1, 'k', 'flow', 1.0, '1')")
        s.set_meta({"schema": "1", "next_seq": "2"}, db)
        db.execute("DELETE FROM meta WHERE k='stream'")
    s.close()
    s = Store(path)
    assert s.stream == "" and s.outbox(10) == [(1, "k", "flow", 1.0, "1")]
    assert [list(_row_event(r).items) for r in s.events(0, 1)] == [["[x", "y"], ["i1", "i2"]]
    s.close()
