"""SIGKILL the pipeline process at random points while events flow and the collector
receives (and kill the collector once too); after restarts every result is at the collector
exactly once, identical to an uninterrupted run."""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from pipeline_testlib import build, events

HERE = Path(__file__).resolve().parent
ENV = {**os.environ, "PYTHONPATH": str(HERE.parents[1] / "python")}
N_EVENTS = 3000


def _start_collector(db: Path, port: int = 0) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "walle.pipeline.collector", "--port",
                             str(port), "--db", str(db)], stdout=subprocess.PIPE, env=ENV,
                            text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
    line = lines.get(timeout=20)
    assert line.startswith("listening on"), line
    return proc, int(line.rsplit(":", 1)[1])


def _expected() -> dict[str, tuple[str, object]]:
    p = build(":memory:").start()
    for e in events(N_EVENTS):
        p.ingest(e)
    assert p.drain(timeout=60)
    rows = p._store.outbox(1_000_000)
    p.close()
    return {key: (kind, json.loads(data)) for _, key, kind, _, data in rows}


def test_sigkill_at_random_points_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(20240607)
    col_db, dev_db = tmp_path / "collector.db", tmp_path / "device.db"
    collector, port = _start_collector(col_db)
    url = f"http://127.0.0.1:{port}/v1/results"
    worker_cmd = [sys.executable, str(HERE / "kill_worker.py"), str(dev_db), url, str(N_EVENTS)]
    kills = 0
    try:
        for round_ in range(8):
            worker = subprocess.Popen(worker_cmd, env=ENV, stdout=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.3, 1.2))
            if round_ == 4:   # the collector dies too; the device retries until it is back
                collector.kill()
                collector.wait(10)
                time.sleep(0.3)
                collector, _ = _start_collector(col_db, port)
            if worker.poll() is None:
                worker.send_signal(signal.SIGKILL)
                kills += 1
            worker.wait(20)
        final = subprocess.run(worker_cmd, env=ENV, capture_output=True, text=True, timeout=120,
                               check=False)
        assert final.returncode == 0, final.stdout + final.stderr
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/results?device=dev-kill",
                                    timeout=10) as resp:
            got = json.loads(resp.read())["results"]
    finally:
        collector.kill()
        collector.wait(10)
    assert kills >= 3, "the test should have killed the worker mid-stream several times"
    keys = [r["key"] for r in got]
    assert len(keys) == len(set(keys)), "a result arrived twice"
    expected = _expected()
    assert set(keys) == set(expected)
    for r in got:
        kind, data = expected[r["key"]]
        assert (r["kind"], r["data"]) == (kind, data), r["key"]
    assert [r["seq"] for r in got] == list(range(1, len(got) + 1)), "no sequence gaps"
