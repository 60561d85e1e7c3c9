"""Uplink and collector: batching, compression, retries while offline, de-duplication."""

from __future__ import annotations

import json
import os
import socket
import threading
import urllib.error
import urllib.request
import zlib

import pytest
from pipeline_testlib import ev, serve
from walle.pipeline import Count, Pipeline, Tumbling, UplinkError
from walle.pipeline.collector import CollectorServer
from walle.pipeline.uplink import Uplink, encode_batch


def post(url: str, body: bytes, deflate: bool = True) -> tuple[int, dict]:
    headers = {"Content-Encoding": "deflate"} if deflate else {}
    req = urllib.request.Request(url, data=zlib.compress(body) if deflate else body,
                                 headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_collector_deduplicates_device_and_seq(collector: CollectorServer) -> None:
    rows = [(1, "k1", "flow", 1.0, '{"a":1}'), (2, "k2", "flow", 2.0, "[1,2]")]
    assert post(collector.url, encode_batch("d1", rows)) == (200, {"stored": 2, "duplicates": 0})
    assert post(collector.url, encode_batch("d1", rows)) == (200, {"stored": 0, "duplicates": 2})
    assert post(collector.url, encode_batch("d2", rows[:1]), deflate=False)[1]["stored"] == 1
    assert [r["data"] for r in collector.store.results("d1")] == [{"a": 1}, [1, 2]]


@pytest.mark.parametrize("body, field", [
    (b"not json", "Expecting"), (b'{"results": []}', "'device'"),
    (b'{"device": "d", "results": [{"seq": 0}]}', "seq"),
    (b'{"device": "d", "results": [{"seq": 1, "key": 3}]}', "key"),
    (b'{"device": "d", "results": [{"seq": 1, "key": "k", "kind": "f", "ts": 1}]}', "data"),
])
def test_collector_rejects_bad_batches(collector: CollectorServer, body: bytes,
                                       field: str) -> None:
    code, doc = post(collector.url, body)
    assert code == 400 and field in doc["error"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_then_online_delivers_everything_once(tmp_path) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/v1/results"
    p = Pipeline(str(tmp_path / "d.db"), uplink_url=url, device_id="dev", commit_every=10,
                 uplink_options={"min_backoff": 0.02, "max_backoff": 0.1, "interval": 0.05,
                                 "batch_size": 7, "seed": 1})
    p.flow("f").key_by("id").window(Tumbling(5)).aggregate(n=Count()).emit()
    p.start()
    p.ingest_many(ev(float(i), "a") for i in range(200))
    p.commit()
    assert not p.drain(timeout=0.5)                  # offline: nothing acknowledged
    assert p.stats()["uplink"]["failures"] >= 2      # and it kept retrying
    server = CollectorServer("127.0.0.1", port, str(tmp_path / "c.db"))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        assert p.drain(timeout=30)
        got = server.store.results("dev")
        assert [r["seq"] for r in got] == list(range(1, 40))      # windows 0..190, once each
        assert [r["data"]["start"] for r in got] == [5 * i for i in range(39)]
        stats = p.stats()["uplink"]
        assert stats["bytes_sent"] < stats["bytes_raw"]          # compressed
    finally:
        p.close()
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_lost_acknowledgement_is_resent_and_deduplicated(collector, tmp_path) -> None:
    from walle.pipeline.store import Store
    store = Store(str(tmp_path / "o.db"))
    with store.transaction() as db:
        store.append_results(db, [("k1", "flow", 1.0, "1"), ("k2", "flow", 1.0, "2")])
    up = Uplink(store, collector.url, "dev2")
    rows = store.outbox(10)
    assert up.send(rows)
    assert store.outbox(10) == []
    with store.transaction() as db:   # as if the ack had been lost: the same rows again
        db.executemany("INSERT INTO outbox (seq, key, kind, ts, data) VALUES (?,?,?,?,?)",
                       rows)
    assert up.send(store.outbox(10))
    assert [r["key"] for r in collector.store.results("dev2")] == ["k1", "k2"]
    store.close()




def test_batches_are_bounded_in_bytes_and_an_unsendable_item_is_dead_lettered(tmp_path) -> None:
    """Defect 9: batches were sized by count; one over the collector's body limit was
    retried forever and UplinkError never raised."""
    blob = lambda e: {"blob": e.args["seed"] * 1000 + os.urandom(e.args["n"]).hex()}
    with serve(str(tmp_path / "c.db"), max_body=64 * 1024) as col:
        p = Pipeline(str(tmp_path / "d.db"), uplink_url=col.url, device_id="dev",
                     commit_every=100, uplink_options={"interval": 0.05, "min_backoff": 0.02,
                                                       "max_backoff": 0.1})
        p.flow("f").map(blob).emit()
        p.start()
        sizes = [3000] * 60 + [200_000] + [3000] * 20     # 6 KB of hex each, one of 400 KB
        p.ingest_many(ev(float(i), "a", seed=str(i % 10), n=n) for i, n in enumerate(sizes))
        assert p.drain(60)
        got = col.store.results("dev")
        (err,) = p.uplink_errors
        stats = p.stats()
        p.close()
    assert isinstance(err, UplinkError) and "f.1@60#1" in str(err)
    assert sorted(r["key"] for r in got) == sorted(f"f.1@{i}#1" for i in range(81) if i != 60)
    assert stats["uplink"]["dead_letters"] == 1 and stats["dead_letters"] == 1


def test_a_wrong_url_is_retried_not_dead_lettered(collector, tmp_path) -> None:
    url = collector.url.replace("/v1/results", "/v1/nowhere")     # answers 404
    p = Pipeline(str(tmp_path / "d.db"), uplink_url=url, device_id="dev", commit_every=10,
                 uplink_options={"interval": 0.02, "min_backoff": 0.02, "max_backoff": 0.05})
    p.flow("f").key_by("id").window(Tumbling(5)).aggregate(n=Count()).emit()
    p.start()
    p.ingest_many(ev(float(i), "a") for i in range(50))
    assert not p.drain(timeout=1.0)
    stats = p.stats()
    assert stats["uplink"]["failures"] >= 3 and "404" in stats["uplink"]["last_error"]
    assert stats["dead_letters"] == 0 and stats["outbox"] == 9
    p.close()
