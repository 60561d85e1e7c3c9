"""Device and stream identity: results of a recreated store never collide with earlier ones,
and two pipelines never share a device id by default."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline_testlib import ev, serve
from walle.pipeline import Count, Pipeline, Tumbling


def _run(path: str, url: str, first: float) -> Pipeline:
    p = Pipeline(path, uplink_url=url, commit_every=10,
                 uplink_options={"interval": 0.05, "min_backoff": 0.05})
    p.flow("f").key_by("id").window(Tumbling(10)).aggregate(n=Count()).emit()
    p.start()
    p.ingest_many(ev(first + i, "a") for i in range(50))
    assert p.drain(30)
    return p


def test_recreated_store_results_are_not_dropped_as_duplicates(tmp_path: Path) -> None:
    """Defect 2: a recreated store restarted sequence numbers at 1 and the collector
    dropped every new result as a duplicate."""
    path = str(tmp_path / "dev.db")
    with serve(str(tmp_path / "col.db")) as col:
        p = _run(path, col.url, 0.0)
        device = p.device_id
        p.close()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        q = _run(path, col.url, 1000.0)
        assert q.device_id == device                 # same device, new stream
        q.close()
        got = col.store.results(device)
    starts = sorted(r["data"]["start"] for r in got)
    assert starts == [0, 10, 20, 30, 1000, 1010, 1020, 1030]
    assert len({(r["stream"], r["seq"]) for r in got}) == 8
    assert len({r["stream"] for r in got}) == 2


def test_device_id_is_generated_once_and_persisted(tmp_path: Path) -> None:
    """Defect 3: the default device id was "device" for every pipeline."""
    a1 = Pipeline(str(tmp_path / "a.db")).start()
    id_a = a1.device_id
    a1.close()
    a2 = Pipeline(str(tmp_path / "a.db")).start()
    b = Pipeline(str(tmp_path / "b.db")).start()
    try:
        assert a2.device_id == id_a
        assert b.device_id != id_a
        assert "device" not in (id_a, b.device_id)
    finally:
        a2.close()
        b.close()
