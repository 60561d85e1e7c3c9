"""One engine in its own process, driven over stdin/stdout by :mod:`walle.benchmark`.

Protocol (one JSON object per line): the worker loads the model and answers
``{"ready": ...}``; each ``run`` line runs one inference and answers ``{"ms": ...}``;
``finish`` saves the last outputs, answers with peak memory and exits.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def _status_kib(field: str) -> int:
    """VmRSS (now) or VmHWM (peak) of this process. VmHWM, unlike getrusage's ru_maxrss, starts
    afresh at exec, so the parent's memory does not leak into the figure."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def main(argv: list[str]) -> int:
    engine, path, threads, feed_path, outputs_path = argv[0], argv[1], int(argv[2]), argv[3], argv[4]
    from walle import peers

    with np.load(feed_path) as data:
        feed = {k: data[k] for k in data.files}
    names = json.loads(argv[5])
    # Import the engine before the baseline, so that memory counts the session, not the library.
    peers.available(engine)
    __import__({"walle": "walle._walle", "onnxruntime": "onnxruntime", "mnn": "MNN.nn",
                "openvino": "openvino"}[engine])
    baseline = _status_kib("VmRSS")
    run = peers.load(engine, path, threads, names["inputs"], names["outputs"])
    outputs = run(feed)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "run":
            start = time.perf_counter()
            outputs = run(feed)
            print(json.dumps({"ms": (time.perf_counter() - start) * 1e3}), flush=True)
        elif command == "finish":
            # string outputs as numpy str arrays: object arrays would need pickling to load back
            np.savez(outputs_path, *[np.asarray(o).astype(str) if np.asarray(o).dtype == object else np.asarray(o)
                                     for o in outputs])
            print(json.dumps({"peak_mib": (_status_kib("VmHWM") - baseline) / 1024}), flush=True)
            return 0
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
