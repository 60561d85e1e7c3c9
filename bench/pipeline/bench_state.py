"""Bounded state over a long run: RSS of a session-window pipeline with and without a TTL.

    PYTHONPATH=python python bench/pipeline/bench_state.py [--seconds 600] [--rate 5000]
        [--no-ttl]

Events are paced at ``--rate`` per second of wall time; event time advances 0.05 s per event,
and a new user (the key) appears every 50 events, so the number of keys seen grows without
end, as on a real device over days.  The flows: per-user sessions (gap 60 s) and a running
per-user count, both with ``ttl=300`` (unless ``--no-ttl``), state persisted in SQLite.
Prints RSS and the state size every ``--every`` seconds, then the growth from the first
sample after warm-up (20 % of the run) to the last: "flat" means within 10 %.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from walle.pipeline import Count, LastN, Pipeline, Session


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def build(path: str, ttl: float | None) -> Pipeline:
    p = Pipeline(path, device_id="bench-state", commit_every=2000, max_future_skew=None)
    (p.flow("sessions").key_by("args.user").window(Session(gap=60))
     .aggregate(n=Count(), pages=LastN(5, "page"), ttl=ttl).emit())
    p.flow("per_user").key_by("args.user").aggregate(n=Count(), ttl=ttl)
    return p


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--rate", type=float, default=5000, help="events per wall-clock second")
    ap.add_argument("--every", type=float, default=30, help="seconds between samples")
    ap.add_argument("--no-ttl", action="store_true", help="unbounded state (as before)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        p = build(os.path.join(tmp, "state.db"), None if args.no_ttl else 300.0).start()
        start = time.monotonic()
        n, samples, next_sample = 0, [], 0.0
        print(f"ttl={'none' if args.no_ttl else '300 s'}, rate={args.rate:.0f}/s, "
              f"{args.seconds:.0f} s\n")
        print("| wall s | events | keys seen | state keys | RSS MB | store MB |")
        print("|---:|---:|---:|---:|---:|---:|")
        while True:
            elapsed = time.monotonic() - start
            if elapsed >= next_sample:
                st = p.stats()
                keys = sum(st["state_keys"].values())
                samples.append((elapsed, rss_mb()))
                print(f"| {elapsed:.0f} | {n:,} | {n // 50:,} | {keys:,} | {samples[-1][1]:.1f} "
                      f"| {st['store_bytes'] / 2**20:.1f} |", flush=True)
                next_sample += args.every
                if elapsed >= args.seconds:
                    break
            # pace: ingest the events due by now, in slices of 500
            due = int(elapsed * args.rate)
            while n < due:
                for _ in range(min(500, due - n)):
                    p.ingest({"ts": 1_700_000_000.0 + n * 0.05, "id": "view",
                              "page": f"p{n % 7}", "args": {"user": f"u{n // 50}"}})
                    n += 1
            time.sleep(0.01)
        p.close()
    warm = [r for t, r in samples if t >= 0.2 * args.seconds]
    growth = (max(warm) - warm[0]) / warm[0]
    print(f"\nRSS after warm-up (20 % of the run) {warm[0]:.1f} MB, highest later "
          f"{max(warm):.1f} MB, last {warm[-1]:.1f} MB: grew {100 * growth:+.1f} % "
          f"({'bounded' if growth <= 0.10 else 'NOT bounded'}: within 10 %)")


if __name__ == "__main__":
    main()
