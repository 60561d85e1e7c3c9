"""Benchmark of walle.pipeline: events/s and per-event latency with 1, 100 and 10,000
registered triggers (state persisted in SQLite with batched commits), memory, and bytes
uplinked per hour of a simulated user session compared with uploading the raw events.

    PYTHONPATH=python python bench/pipeline/bench_pipeline.py [--events 200000] [--cpu 0]

Each trigger count runs in a fresh child process pinned to one CPU, so that memory (peak RSS)
and speed are not mixed between configurations.  Prints a markdown table.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib

from walle.pipeline import Count, Distinct, LastN, Pipeline, Tumbling
from walle.pipeline.collector import CollectorServer
from walle.pipeline.examples import build_din_pipeline, simulate_session

N_ITEMS = 5000


def make_events(n: int, seed: int = 1) -> list[dict]:
    """``n`` events of simulated users browsing (feed pages, exposures, scrolls, item pages,
    add-to-cart): the structure of real behaviour streams, page visits of ~10 events."""
    out: list[dict] = []
    start = 1_700_000_000.0
    while len(out) < n:
        out.extend(simulate_session(seed + len(out), 6 * 3600, start, n_items=N_ITEMS))
        start = out[-1]["ts"] + 1
    return out[:n]


def make_triggers(n: int, seed: int = 2, ranges: bool = False) -> list[tuple[str, str]]:
    """Trigger patterns of the kinds tasks declare: page visits, funnels on one item; with
    ``ranges``, a third of them on numeric ranges only (a price band, a scroll distance)."""
    rng = random.Random(seed)
    out = [("visit", "page_enter(page=$p) * page_leave(page=$p)")]
    for i in range(1, n):
        item = f"i{rng.randrange(N_ITEMS)}"
        kind = i % 6 if ranges else i % 4
        if kind == 4:
            lo = round(rng.uniform(1, 300), 1)
            band = f"args.price>={lo}, args.price<{lo + 0.5}"
            out.append((f"t{i}", f"page_enter(page=item, {band}) * add_cart"))
            continue
        if kind == 5:
            dy = rng.randrange(100, 900)
            out.append((f"t{i}", f"scroll(args.dy>={dy}, args.dy<={dy + 1}) add_cart"))
            continue
        if kind == 0:
            pat = f"page_enter(page=item, item={item}) * add_cart(item={item})"
        elif kind == 1:
            pat = f"exposure(item={item}) * click(item={item})"
        elif kind == 2:
            pat = f"click(item={item}) * page_leave(page=item, item={item})"
        else:
            pat = f"add_cart(item={item}, args.cat<16) * page_enter(page=feed)"
        out.append((f"t{i}", pat))
    return out


def build(store: str, n_triggers: int, freeze_gc: bool = True, ranges: bool = False
          ) -> Pipeline:
    p = Pipeline(store, sink=lambda name, inputs: len(inputs["events"]), commit_every=2000,
                 commit_interval=0.5, freeze_gc=freeze_gc, device_id="bench")
    for name, pat in make_triggers(n_triggers, ranges=ranges):
        p.trigger(name, pat, within=300, max_events=200)
    (p.flow("per_page").filter("click|exposure|add_cart").key_by("page")
     .window(Tumbling(600)).aggregate(n=Count(), items=Distinct("item")).emit())
    p.flow("recent").filter("click").key_by("'user'").aggregate(last=LastN(50, "item"))
    return p


def run_one(n_triggers: int, n_events: int, freeze_gc: bool = True, ranges: bool = False
            ) -> dict:
    events = make_events(n_events)
    # The pre-generated events are the harness's, not the pipeline's: keep the cyclic GC from
    # rescanning them (an app's stream does not hold 200k events in memory at once).
    gc.freeze()
    with tempfile.TemporaryDirectory() as tmp:
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        p = build(os.path.join(tmp, "bench.db"), n_triggers, freeze_gc, ranges).start()
        setup = time.perf_counter() - t0
        lat = []
        clock = time.perf_counter
        cpu0 = time.process_time()
        start = clock()
        for e in events:
            t = clock()
            p.ingest(e)
            lat.append(clock() - t)
        p.commit()
        elapsed = clock() - start
        cpu = time.process_time() - cpu0   # all threads: ingestion, tasks, SQLite
        stats = p.stats()
        fires = p.fires
        p.drain(60)
        p.close()
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    lat.sort()
    return {"triggers": f"{n_triggers:,}" + (" (1/3 range)" if ranges else ""),
            "events": n_events, "eps": n_events / elapsed,
            "eps_cpu": n_events / cpu,
            "p50_us": statistics.median(lat) * 1e6, "p99_us": lat[int(len(lat) * 0.99)] * 1e6,
            "setup_s": setup, "rss_mb": rss1 / 1024, "rss_growth_mb": (rss1 - rss0) / 1024,
            "store_mb": stats["store_bytes"] / 2**20, "active_runs": stats["active_runs"],
            "fires": fires}


def uplink_per_hour(hours: float = 1.0) -> dict:
    """One simulated user-hour through the DIN pipeline, uplinked to a real collector."""
    events = simulate_session(seed=11, duration_s=hours * 3600)
    raw = json.dumps(events, separators=(",", ":")).encode()
    with tempfile.TemporaryDirectory() as tmp:
        server = CollectorServer("127.0.0.1", 0, os.path.join(tmp, "c.db"))
        th = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
        th.start()

        def model(inputs: dict) -> dict:   # a stand-in for walle.load(path).run(...)
            return {"score": [round(float(inputs["mask"].sum()) / 50, 4)]}
        p = build_din_pipeline(model=model, store=os.path.join(tmp, "d.db"),
                               uplink_url=server.url)
        p.start()
        p.ingest_many(events)
        p.drain(60)
        up = p.stats()["uplink"]
        p.close()
        server.shutdown()
        server.server_close()
    return {"events": len(events), "raw_json": len(raw) / hours,
            "raw_zlib": len(zlib.compress(raw, 6)) / hours, "results": up["results"] / hours,
            "uplink": up["bytes_sent"] / hours, "batches": up["batches"] / hours}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--cpu", type=int, default=0, help="CPU to pin each run to")
    ap.add_argument("--no-freeze-gc", action="store_true",
                    help="run without Pipeline(freeze_gc=True)")
    ap.add_argument("--configs", default="1,100,10000,10000r",
                    help="trigger counts to run; a trailing r mixes in range-only triggers")
    ap.add_argument("--no-uplink", action="store_true", help="skip the uplink table")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one is not None:
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {args.cpu})
        print(json.dumps(run_one(int(args.one.rstrip("r")), args.events,
                                 not args.no_freeze_gc, args.one.endswith("r"))))
        return
    rows = []
    for n in args.configs.split(","):
        out = subprocess.run([sys.executable, __file__, "--one", n, "--events",
                              str(args.events), "--cpu", str(args.cpu),
                              *(["--no-freeze-gc"] if args.no_freeze_gc else [])], check=True,
                             capture_output=True, text=True, timeout=900)
        rows.append(json.loads(out.stdout))
    base = rows[0]["eps"]
    print(f"### walle.pipeline: {args.events} events per run, one core, SQLite WAL store, "
          f"commit every 2000 events, freeze_gc={not args.no_freeze_gc}\n")
    print("events/CPU-s divides by the CPU time of the whole process (ingestion, task threads, "
          "SQLite); it is what the wall-clock rate would be on an otherwise idle core.\n")
    print("Peak RSS includes the pre-generated event list; RSS growth is what the pipeline "
          "added while it ran (operators, runs, ring, SQLite cache).\n")
    print("| triggers | events/s (wall) | events/CPU-s | vs 1 trigger (wall) | "
          "latency p50 (us) | latency p99 (us) | "
          "peak RSS (MB) | RSS growth (MB) | store (MB) | trigger setup (s) | tasks fired |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['triggers']} | {r['eps']:,.0f} | {r['eps_cpu']:,.0f} | "
              f"{r['eps'] / base:.2f} | "
              f"{r['p50_us']:.1f} | {r['p99_us']:.1f} | {r['rss_mb']:.0f} | "
              f"{r['rss_growth_mb']:.0f} | "
              f"{r['store_mb']:.1f} | {r['setup_s']:.2f} | {r['fires']:,} |")
    if args.no_uplink:
        return
    u = uplink_per_hour()
    print("\n### Uplink per hour of a simulated user session (DIN example pipeline)\n")
    print("| what | bytes/hour | vs raw JSON |")
    print("|---|---:|---:|")
    print(f"| raw events, JSON ({u['events']:,} events) | {u['raw_json']:,.0f} | 1.000 |")
    print(f"| raw events, JSON + zlib | {u['raw_zlib']:,.0f} | "
          f"{u['raw_zlib'] / u['raw_json']:.3f} |")
    print(f"| uplinked results ({u['results']:.0f} results, {u['batches']:.0f} batches, "
          f"zlib, HTTP bodies) | {u['uplink']:,.0f} | {u['uplink'] / u['raw_json']:.3f} |")


if __name__ == "__main__":
    main()
