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


def median_ms(session, feed, reps: int) -> float:
    session.run(feed)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        session.run(feed)
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


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
            cells, placement = [], ""
            for backend, mode in configs:
                t0 = time.perf_counter()
                session = walle.load(path, backend=backend, mode=mode, threads=args.threads)
                load_s = time.perf_counter() - t0
                got = session.run(feed)
                ms = median_ms(session, feed, args.reps)
                cell = f"{ms:.1f} ms"
                if backend != "cpu":
                    cell += f" (rel {max_rel(got, want):.0e})"
                if mode == "tune":
                    cell += f" [tuning {load_s:.0f} s]"
                    counts: dict[str, int] = {}
                    for row in session.plan():
                        counts[row["backend"]] = counts.get(row["backend"], 0) + 1
                    placement = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                cells.append(cell)
            print(f"| {name} | " + " | ".join(cells) + f" | {placement} |", flush=True)


if __name__ == "__main__":
    main()
