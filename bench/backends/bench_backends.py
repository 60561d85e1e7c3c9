"""Median latency of the model set on each backend and on the search's choice ("auto", in
estimate and tune mode), with the largest relative difference from the CPU backend's outputs.

    python bench/backends/bench_backends.py [--models resnet18 din] [--reps 5] [--threads 1]

Prints a Markdown table. Needs torch (the models are built on the spot) and the backends this
machine has (walle.backends()).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import walle
from walle.models import MODEL_NAMES, export_model


def interleaved_ms(sessions: list, feed, reps: int) -> list[float]:
    """Median ms per session, timed round-robin so that load from other processes on a shared
    machine hits every configuration alike. A session slower than 2 s per run is timed once."""
    first = []
    for s in sessions:
        t0 = time.perf_counter()
        s.run(feed)
        first.append(time.perf_counter() - t0)
    times: list[list[float]] = [[] for _ in sessions]
    for r in range(reps):
        for i, s in enumerate(sessions):
            if r > 0 and first[i] > 2.0:
                continue
            t0 = time.perf_counter()
            s.run(feed)
            times[i].append(time.perf_counter() - t0)
    return [1e3 * float(np.median(t)) for t in times]


def max_rel(got: dict, want: dict) -> float:
    worst = 0.0
    for k, w in want.items():
        g, w = got[k].astype(np.float64), w.astype(np.float64)
        scale = np.max(np.abs(w)) + 1e-12
        worst = max(worst, float(np.max(np.abs(g - w)) / scale))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", nargs="+", default=MODEL_NAMES)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    devices = [str(b) for b in walle.backends() if b.available and str(b) not in ("cpu", "cpu-reference")]
    configs = [("cpu", "estimate"), *[(d, "estimate") for d in devices], ("auto", "estimate"), ("auto", "tune")]
    header = [f"{b}" + (" (tune)" if m == "tune" else "") for b, m in configs]
    print("| model | " + " | ".join(header) + " | auto placement (ops per backend) |")
    print("|---" * (len(configs) + 2) + "|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            onnx_path = Path(tmp) / f"{name}.onnx"
            feed = export_model(name, onnx_path)
            path = Path(tmp) / f"{name}.walle"
            walle.convert(onnx_path, path)
            want = walle.load(path, threads=args.threads).run(feed)
            sessions, notes, placement = [], [], ""
            for backend, mode in configs:
                t0 = time.perf_counter()
                session = walle.load(path, backend=backend, mode=mode, threads=args.threads)
                load_s = time.perf_counter() - t0
                got = session.run(feed)
                note = f" (rel {max_rel(got, want):.0e})" if backend != "cpu" else ""
                if mode == "tune":
                    note += f" [tuning {load_s:.0f} s]"
                    counts: dict[str, int] = {}
                    for row in session.plan():
                        counts[row["backend"]] = counts.get(row["backend"], 0) + 1
                    placement = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                sessions.append(session)
                notes.append(note)
            cells = [f"{ms:.1f} ms{note}" for ms, note in zip(interleaved_ms(sessions, feed, args.reps), notes)]
            print(f"| {name} | " + " | ".join(cells) + f" | {placement} |", flush=True)


if __name__ == "__main__":
    main()
