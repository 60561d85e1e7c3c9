"""Child process of the chaos test: resume from the store, feed events (making some commits
fail with a real "disk full"), drain, exit 0.

    python chaos_worker.py DB URL N SEED [--fast]
"""

from __future__ import annotations

import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pipeline_testlib import build, events
from walle.pipeline import StoreError

UNLIMITED = 1073741823


def set_max_pages(p, pages: int | None) -> None:
    with p._store.lock:    # the uplink and task threads share the connection
        if pages is None:
            pages = p._store.db.execute("PRAGMA page_count").fetchone()[0]
        p._store.db.execute(f"PRAGMA max_page_count = {pages}")


def main() -> int:
    db, url, n, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    pace = "--fast" not in sys.argv
    rng = random.Random(seed)
    stream = events(n)
    p = build(db, url).start()
    i, failures = p.offset, 0
    while i < n:
        if rng.random() < 0.01:
            set_max_pages(p, None)          # the disk is full from here on ...
        try:
            p.ingest(stream[i])
            i += 1
        except StoreError as exc:
            failures += 1                   # ... the commit failed: back at p.offset
            with open(db + ".full.log", "a") as log:
                log.write(f"{i} {exc}\n")
            set_max_pages(p, UNLIMITED)     # space is freed; resend from the offset
            i = p.offset
        if i % 5 == 0 and pace:
            time.sleep(0.03)                # ~20 s a stream: 25 kills all land mid-stream
    set_max_pages(p, UNLIMITED)
    ok = p.drain(timeout=60)
    p.close()
    print(f"done failures={failures}" if ok else "drain timed out", flush=True)
    return 0 if ok else 3


if __name__ == "__main__":
    sys.exit(main())
