"""Side-by-side latency of Walle and peer engines, shared by ``walle bench`` and
``bench/models``.

Each engine runs in its own process (``walle.bench_worker``); all of them stay loaded and
take turns, one inference each per round, so that machine noise hits them alike. Reported:
median and p90 latency, ratio to Walle, peak memory of the session (RSS growth over the
process after importing the engine), and the largest absolute difference from onnxruntime.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from . import peers


@dataclass
class Result:
    model: str
    engine: str
    threads: int
    median_ms: float
    p90_ms: float
    ratio: float = 1.0          # median / Walle's median
    peak_mib: float = 0.0
    max_abs_diff: float | None = None  # vs onnxruntime
    error: str = ""


def random_inputs(infos, seed: int = 0, sizes: dict[str, int] | None = None) -> dict[str, np.ndarray]:
    """Random arrays for each input (symbolic dimensions take ``sizes.get(name, 1)``); a
    sequence input gets a list of one array, an optional input a value, an input of any
    shape a scalar."""
    rng = np.random.default_rng(seed)
    sizes = sizes or {}
    feed: dict[str, np.ndarray] = {}
    for info in infos:
        shape = tuple(d if isinstance(d, int) else sizes.get(d or "", 1) for d in info.shape or ())
        kind = "U" if info.dtype == "string" else np.dtype(info.dtype).kind
        if kind == "U":  # short words from a small vocabulary, as a numpy str array
            value = np.array([f"w{v}" for v in rng.integers(0, 100, int(np.prod(shape, dtype=np.int64)))],
                             dtype=str).reshape(shape)
        elif kind == "f":
            value = rng.standard_normal(shape).astype(info.dtype)
        elif kind == "b":
            value = rng.integers(0, 2, shape).astype(bool)
        else:  # indices: keep small so that embedding lookups stay in range
            value = rng.integers(0, 2, shape).astype(info.dtype)
        feed[info.name] = [value] if getattr(info, "is_sequence", False) else value
    return feed


class _Worker:
    def __init__(self, engine: str, path: str, threads: int, feed_path: str, out_path: str, names: dict):
        self.engine, self.out_path = engine, out_path
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "walle.bench_worker", engine, path, str(threads), feed_path, out_path,
             json.dumps(names)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self._read()  # ready

    def _read(self) -> dict:
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{self.engine} worker exited: {self.proc.stderr.read()[-2000:]}")
            if line.startswith("{"):  # engines may print banners of their own
                return json.loads(line)

    def run(self) -> float:
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        return float(self._read()["ms"])

    def finish(self) -> tuple[float, list[np.ndarray]]:
        self.proc.stdin.write("finish\n")
        self.proc.stdin.flush()
        peak = float(self._read()["peak_mib"])
        self.proc.wait(timeout=60)
        with np.load(self.out_path) as data:
            return peak, [data[k] for k in data.files]


_SETTLE_S = 0.02  # pause between engines in compare(); see there


def compare(onnx_path: str, engines: list[str], threads: int, runs: int = 20, warmup: int = 3,
            workdir: str | None = None, model: str | None = None, feed: dict[str, np.ndarray] | None = None
            ) -> list[Result]:
    """Runs `engines` (those installed) on one model, interleaved, each in its own process."""
    import onnx

    model = model or os.path.splitext(os.path.basename(onnx_path))[0]
    graph = onnx.load(onnx_path, load_external_data=False).graph
    initializers = {t.name for t in graph.initializer}
    names = {"inputs": [i.name for i in graph.input if i.name not in initializers],
             "outputs": [o.name for o in graph.output]}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = workdir or tmp
        if feed is None:
            import walle

            feed = random_inputs(walle.load(peers.prepare("walle", onnx_path, workdir)).inputs)
        feed_path = os.path.join(tmp, "feed.npz")
        np.savez(feed_path, **feed)
        workers: dict[str, _Worker] = {}
        results: list[Result] = []
        for engine in engines:
            if not peers.available(engine):
                continue
            try:
                path = peers.prepare(engine, onnx_path, workdir)
                workers[engine] = _Worker(engine, path, threads, feed_path, os.path.join(tmp, f"{engine}.npz"), names)
            except Exception as e:  # noqa: BLE001 - a peer that cannot run this model is reported, not fatal
                results.append(Result(model, engine, threads, float("nan"), float("nan"), error=str(e)[-300:]))
        samples: dict[str, list[float]] = {e: [] for e in workers}
        for round_ in range(warmup + runs):
            for engine, worker in workers.items():
                # Engines' idle threads spin for a while after their work (ours ~2 ms, peers'
                # longer): on 2 cores the previous engine's spinners would take the next engine's
                # cores. So let them settle, and time the second of two back-to-back runs (the
                # first wakes this engine's own sleeping threads), the steady state of an engine
                # serving requests - the same treatment for every engine.
                time.sleep(_SETTLE_S)
                worker.run()
                ms = worker.run()
                if round_ >= warmup:
                    samples[engine].append(ms)
        outputs: dict[str, list[np.ndarray]] = {}
        for engine, worker in workers.items():
            peak, outputs[engine] = worker.finish()
            ordered = sorted(samples[engine])
            results.append(Result(model, engine, threads, statistics.median(ordered),
                                  ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], peak_mib=peak))
    base = next((r.median_ms for r in results if r.engine == "walle"), float("nan"))
    for r in results:
        r.ratio = r.median_ms / base
        if "onnxruntime" in outputs and r.engine in outputs:
            r.max_abs_diff = max(_max_abs_diff(a, b) for a, b in zip(outputs[r.engine], outputs["onnxruntime"], strict=False))
    return results


def _max_abs_diff(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "OUS" or b.dtype.kind in "OUS":  # strings: equal or not
        return 0.0 if a.shape == b.shape and a.tolist() == b.tolist() else float("inf")
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)), initial=0.0))


def markdown_table(results: list[Result]) -> str:
    lines = ["| model | threads | engine | median ms | p90 ms | vs walle | peak MiB | max abs diff vs ORT |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in results:
        if r.error:
            lines.append(f"| {r.model} | {r.threads} | {r.engine} | failed: {r.error.splitlines()[-1][:80]} |||||")
            continue
        diff = "" if r.max_abs_diff is None else f"{r.max_abs_diff:.2e}"
        lines.append(f"| {r.model} | {r.threads} | {r.engine} | {r.median_ms:.3f} | {r.p90_ms:.3f} | "
                     f"{r.ratio:.2f}x | {r.peak_mib:.1f} | {diff} |")
    return "\n".join(lines)


def plot(results: list[Result], path: str) -> None:
    """Bar chart of each engine's median latency relative to Walle, per model and threads."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = sorted({(r.model, r.threads) for r in results}, key=lambda g: (g[0], g[1]))
    engines = [e for e in peers.ENGINES if any(r.engine == e and not r.error for r in results)]
    fig, ax = plt.subplots(figsize=(max(8, len(groups) * 1.2), 4.5))
    width = 0.8 / max(len(engines), 1)
    for k, engine in enumerate(engines):
        values = [next((r.ratio for r in results if (r.model, r.threads) == g and r.engine == engine and not r.error),
                       float("nan")) for g in groups]
        ax.bar([i + k * width for i in range(len(groups))], values, width, label=engine)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks([i + width * (len(engines) - 1) / 2 for i in range(len(groups))])
    ax.set_xticklabels([f"{m}\n{t} thr" for m, t in groups], fontsize=8)
    ax.set_ylabel("median latency / Walle's (higher = Walle faster)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
