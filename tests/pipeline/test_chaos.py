"""Chaos: 50 SIGKILLs at random points of ingest, commits failing with a real disk-full
error, the collector killed and restarted, and the store deleted and recreated once; every
result reaches the collector exactly once per stream, identical to an uninterrupted run."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from test_kill import ENV, HERE, _expected, _start_collector

N_EVENTS = 3000
KILLS = 50


def _run_until_killed(cmd: list[str], rng: random.Random) -> bool:
    worker = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL)
    time.sleep(rng.uniform(0.2, 1.0))
    killed = worker.poll() is None
    if killed:
        worker.send_signal(signal.SIGKILL)
    worker.wait(20)
    return killed


def _finish(cmd: list[str]) -> None:
    final = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=180,
                           check=False)
    assert final.returncode == 0, final.stdout + final.stderr


def test_chaos_exactly_once_per_stream(tmp_path: Path) -> None:
    rng = random.Random(20261204)
    col_db, dev_db = tmp_path / "collector.db", tmp_path / "device.db"
    collector, port = _start_collector(col_db)
    url = f"http://127.0.0.1:{port}/v1/results"
    kills = 0
    try:
        for phase in range(2):
            if phase == 1:       # the store is lost: a new stream of the same device
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{dev_db}{suffix}").unlink(missing_ok=True)
            phase_kills = 0
            for round_ in range(3 * KILLS // 2):       # bounded; stops after KILLS / 2 kills
                cmd = [sys.executable, str(HERE / "chaos_worker.py"), str(dev_db), url,
                       str(N_EVENTS), str(rng.randrange(1 << 30))]
                if round_ == 10:   # the collector dies too; devices retry until it is back
                    collector.kill()
                    collector.wait(10)
                    collector, _ = _start_collector(col_db, port)
                phase_kills += _run_until_killed(cmd, rng)
                if phase_kills == KILLS // 2:
                    break
            kills += phase_kills
            _finish([sys.executable, str(HERE / "chaos_worker.py"), str(dev_db), url,
                     str(N_EVENTS), "1", "--fast"])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/results?device=dev-kill",
                                    timeout=10) as resp:
            got = json.loads(resp.read())["results"]
    finally:
        collector.kill()
        collector.wait(10)
    assert kills == KILLS
    expected = _expected()
    streams: dict[str, list[dict]] = {}
    for r in got:
        streams.setdefault(r["stream"], []).append(r)
    assert len(streams) == 2, "the recreated store is a second stream"
    for results in streams.values():
        keys = [r["key"] for r in results]
        assert len(keys) == len(set(keys)), "a result arrived twice"
        assert set(keys) == set(expected)
        for r in results:
            assert (r["kind"], r["data"]) == expected[r["key"]], r["key"]
        assert sorted(r["seq"] for r in results) == list(range(1, len(results) + 1))
    full = Path(f"{dev_db}.full.log").read_text().splitlines()
    assert len(full) >= 5 and all("full" in line for line in full), full[:3]
