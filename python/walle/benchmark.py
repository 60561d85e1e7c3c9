"""Latency measurement shared by ``walle bench`` and ``bench/``: Walle and peer engines run
interleaved (one run of each in turn), so that machine noise hits all of them alike; medians
and ratios are reported, never a single run.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Timing:
    engine: str
    threads: int
    median_ms: float
    p90_ms: float
    runs: int


def random_inputs(infos: list[Any], seed: int = 0, sizes: dict[str, int] | None = None) -> dict[str, np.ndarray]:
    """Random arrays for each input (symbolic dimensions take ``sizes.get(name, 1)``)."""
    rng = np.random.default_rng(seed)
    sizes = sizes or {}
    feed: dict[str, np.ndarray] = {}
    for info in infos:
        shape = tuple(d if isinstance(d, int) else sizes.get(d or "", 1) for d in info.shape)
        dtype = np.dtype(info.dtype)
        if dtype.kind == "f":
            feed[info.name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "b":
            feed[info.name] = rng.integers(0, 2, shape).astype(bool)
        else:  # indices: keep small so that embedding lookups stay in range
            feed[info.name] = rng.integers(0, 2, shape).astype(dtype)
    return feed


def interleaved(runners: dict[str, Callable[[], Any]], runs: int = 20, warmup: int = 3) -> dict[str, list[float]]:
    """Milliseconds of each run of each runner, alternating runners within every round."""
    for _ in range(warmup):
        for fn in runners.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(runs):
        for name, fn in runners.items():
            start = time.perf_counter()
            fn()
            samples[name].append((time.perf_counter() - start) * 1e3)
    return samples


def summarize(engine: str, threads: int, samples: list[float]) -> Timing:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return Timing(engine, threads, statistics.median(ordered), p90, len(ordered))


def onnxruntime_runner(onnx_path: str, threads: int, feed: dict[str, np.ndarray]) -> Callable[[], Any]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    return lambda: session.run(None, feed)
