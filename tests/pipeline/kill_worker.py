"""Child process of the SIGKILL test: resume from the store, feed events, drain, exit 0.

    python kill_worker.py DB URL N [--slow]
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pipeline_testlib import build, events


def main() -> int:
    db, url, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    stream = events(n)
    p = build(db, url).start()
    start = p.offset
    print(f"resume {start}", flush=True)
    for i in range(start, n):
        p.ingest(stream[i])
        if i % 5 == 0:
            # pace the stream (~2 s in all) so that kills land at many different points
            time.sleep(0.003)
    ok = p.drain(timeout=60)
    p.close()
    print("done" if ok else "drain timed out", flush=True)
    return 0 if ok else 3


if __name__ == "__main__":
    sys.exit(main())
