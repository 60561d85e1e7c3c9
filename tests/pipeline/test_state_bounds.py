"""Bounded state: per-operator TTL and key limits, with the state size in the metrics."""

from __future__ import annotations

import json

from pipeline_testlib import ev
from walle.pipeline import Count, Pipeline, Session


def test_ttl_drops_idle_keys_and_emits_their_open_windows(tmp_path) -> None:
    path = str(tmp_path / "t.db")
    p = Pipeline(path, device_id="d", commit_every=100)
    (p.flow("s").key_by("page").window(Session("enter")).aggregate(n=Count(), ttl=100)
     .emit())
    p.flow("r").key_by("page").aggregate(n=Count(), ttl=100)
    p.start()
    for i in range(3000):                 # a new page every 10 events: keys keep coming
        p.ingest(ev(float(i), "enter" if i % 10 == 0 else "x", f"p{i // 10}"))
    p.commit()
    keys = p.stats()["state_keys"]
    assert keys["s.aggregate"] <= 120 and keys["r.aggregate"] <= 120    # ~ttl + one sweep
    assert p.stats()["evicted"] >= 2 * 190     # swept every 1024 events: keys idle by 1948
    # an evicted session was emitted with its 10 events, not lost
    counts = [json.loads(d)["n"] for *_, d in p._store.outbox(10**6)]
    assert counts.count(10) >= 190
    p.close()
    rows = Pipeline(path, device_id="d")    # the store shrank with the state
    rows.flow("s").key_by("page").window(Session("enter")).aggregate(n=Count(), ttl=100).emit()
    rows.flow("r").key_by("page").aggregate(n=Count(), ttl=100)
    rows.start()
    assert rows._store.count("state") <= 2 * 120
    rows.close()


def test_max_keys_keeps_the_most_recently_updated() -> None:
    p = Pipeline(device_id="d")
    p.flow("r").key_by("page").aggregate(n=Count(), max_keys=50)
    p.start()
    for i in range(5000):
        p.ingest(ev(float(i), "x", f"p{i % 700}"))
    assert p.stats()["state_keys"]["r.aggregate"] <= 50 + 1024
    p.ingest_many(ev(6000.0 + i, "x", "hot") for i in range(1100))
    assert p.stats()["state_keys"]["r.aggregate"] <= 51
    assert p.query("r", "hot")["n"] == 1100
    p.close()
