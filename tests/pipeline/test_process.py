"""User operators with keyed state and event-time timers (Flow.process)."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline_testlib import ev
from walle.pipeline import Pipeline


def _count(ctx, record) -> None:
    ctx.state = (ctx.state or 0) + 1
    ctx.timer(ctx.ts + 10)           # report 10 s after each record (one timer per time)


def _report(ctx) -> None:
    if ctx.watermark >= ctx.ts and ctx.state:
        ctx.emit({"key": ctx.key, "n": ctx.state, "at": ctx.ts})
    ctx.state = None


def _build(path: str) -> Pipeline:
    p = Pipeline(path, device_id="d", commit_every=3)
    p.flow("users").key_by("page").process(_count, on_timer=_report).emit()
    return p


def _emitted(p: Pipeline) -> list[dict]:
    return [json.loads(d) for *_, d in p._store.outbox(100)]


def test_timers_fire_when_event_time_passes_them_and_survive_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "p.db")
    p = _build(path).start()
    p.ingest_many([ev(1.0, "a", "u1"), ev(2.0, "a", "u1"), ev(5.0, "a", "u2")])
    p.ingest(ev(11.5, "a", "u3"))       # passes u1's timer at 11 (not the one at 12)
    p.commit()
    assert _emitted(p) == [{"key": "u1", "n": 2, "at": 11.0}]
    assert p.query("users", "u1") is None        # the report cleared it
    p.close()

    q = _build(path).start()             # u2's timer at 15 and u3's at 21.5 were stored
    q.ingest(ev(30.0, "a", "u4"))
    q.commit()
    assert [(r["key"], r["at"]) for r in _emitted(q)] == [("u1", 11.0), ("u2", 15.0),
                                                         ("u3", 21.5)]
    assert q.stats()["state_keys"] == {"users.process": 1}     # only u4 is waiting
    q.close()


def test_an_exception_in_a_process_function_dead_letters_the_event() -> None:
    def picky(ctx, record) -> None:
        if record.page == "bad":
            raise ValueError("no")
        ctx.state = (ctx.state or 0) + 1

    p = Pipeline(device_id="d")
    p.flow("f").key_by("'all'").process(picky)
    p.start()
    p.ingest_many([ev(1.0, "a", "x"), ev(2.0, "a", "bad"), ev(3.0, "a", "y")])
    assert p.query("f", "all") == 2
    assert [d["offset"] for d in p.dead_letters()] == [1]
    p.close()
