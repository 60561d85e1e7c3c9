"""Benchmark of walle.vm: sequential vs mode="thread" vs mode="interpreter" vs processes.

Two workloads, each N runs of one task (a few ms of pure-Python pre-processing, then a
"model run"):
  python-bound  ~5 ms pure-Python loop, no model: shows what a per-interpreter GIL buys.
  engine-bound  ~1 ms Python + a GIL-releasing C computation standing in for the model
                (sha256 over 4 MiB, OpenSSL releases the GIL like the walle engine does).
Also measured: start-up of a task (Runner.load + first run) vs starting a worker process
(spawn + import + first run), and memory per extra loaded task (PSS) vs per worker process.

    PYTHONPATH=python python bench/vm/bench_vm.py [--runs 40] [--workers 2]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import importlib.util
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from walle.vm import Runner
from walle.vm.subinterp import AVAILABLE, UNAVAILABLE_REASON

TASK_SOURCE = """
import hashlib

MODEL_INPUT = None  # 4 MiB, made on first model run so start-up/memory figures exclude it


def preprocess(n):
    total = 0
    for i in range(n):
        total += (i * i) % 7
    return total


def fake_model(reps):
    # stand-in for Session.run: C code that releases the GIL while it computes
    global MODEL_INPUT
    if MODEL_INPUT is None:
        MODEL_INPUT = bytes(range(256)) * 16384
    digest = b""
    for _ in range(reps):
        digest = hashlib.sha256(MODEL_INPUT).digest()
    return digest


def run(ctx, inputs):
    pre = preprocess(inputs["py_iters"])
    out = fake_model(inputs["model_reps"])
    return {"pre": pre, "out": out[:4]}
"""


def make_bundle(parent: Path, name: str, concurrency: int) -> Path:
    root = parent / name
    root.mkdir()
    (root / "main.py").write_text(TASK_SOURCE)
    (root / "task.toml").write_text(
        f'name = "{name}"\nversion = "1"\nentry = "main:run"\n[limits]\nconcurrency = {concurrency}\nqueue_length = 10000\n'
    )
    return root


def load_task_module(root: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"bench_task_{abs(hash(root))}", Path(root) / "main.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_worker_module: Any = None


def process_run(root: str, inputs: dict[str, int]) -> dict[str, Any]:
    """Runs in a pool worker process: import the task once per process, then run it."""
    global _worker_module
    if _worker_module is None:
        _worker_module = load_task_module(root)
    return _worker_module.run(None, inputs)


def pss_kib(pid: int | str = "self") -> int:
    """Proportional set size: shared pages counted fractionally, fair across processes."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise RuntimeError("no Pss in smaps_rollup")


def calibrate(module: Any) -> tuple[int, int]:
    """Loop iterations for ~1 ms of Python, sha256 repetitions for ~1 ms of 'model'."""
    t = time.perf_counter()
    module.preprocess(200_000)
    per_ms_iters = int(200_000 / ((time.perf_counter() - t) * 1000))
    t = time.perf_counter()
    module.fake_model(5)
    per_ms_reps = 5 / ((time.perf_counter() - t) * 1000)
    return per_ms_iters, max(1, round(per_ms_reps * 1000)) // 1000 or 1


def timed(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def throughput(label: str, runs: int, seconds: float, base: float | None) -> str:
    speed = f"  {base / seconds:4.2f}x vs sequential" if base else ""
    return f"  {label:<22} {runs / seconds:8.1f} runs/s  ({seconds * 1000 / runs:6.2f} ms/run){speed}"


def bench_workload(
    name: str, root: Path, inputs: dict[str, int], runs: int, workers: int, module: Any
) -> None:
    print(f"\n{name}: {runs} runs, inputs {inputs}, {workers} workers")
    module.run(None, inputs)  # warm caches
    seq = timed(lambda: [module.run(None, inputs) for _ in range(runs)])
    print(throughput("sequential", runs, seq, None))
    modes = ["thread"] + (["interpreter"] if AVAILABLE else [])
    for mode in modes:
        with Runner(workers=workers, mode=mode) as runner:
            task = runner.load(root)
            for f in [runner.submit(task, inputs) for _ in range(workers * 2)]:
                f.result(60)  # warm: every slot created
            spent = timed(
                lambda t=task: [f.result(120) for f in [runner.submit(t, inputs) for _ in range(runs)]]
            )
        print(throughput(f"vm mode={mode}", runs, spent, seq))
    if not AVAILABLE:
        print(f"  vm mode=interpreter      skipped: {UNAVAILABLE_REASON}")
    ctx = mp.get_context("spawn")
    with cf.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        list(pool.map(process_run, [str(root)] * workers * 2, [inputs] * workers * 2))  # warm
        spent = timed(lambda: list(pool.map(process_run, [str(root)] * runs, [inputs] * runs)))
    print(throughput("process pool (spawn)", runs, spent, seq))


def bench_startup(parent: Path, count: int) -> None:
    print(f"\nstart-up and memory per task ({count} tasks each)")
    inputs = {"py_iters": 10, "model_reps": 0}
    roots = [make_bundle(parent, f"startup{i}", 1) for i in range(count)]
    modes = ["thread"] + (["interpreter"] if AVAILABLE else [])
    results: dict[str, tuple[float, float]] = {}
    for mode in modes:
        with Runner(workers=1, mode=mode) as runner:
            warm = runner.load(make_bundle(parent, f"warm-{mode}", 1))
            runner.run(warm, inputs, timeout=60)  # imports of the VM itself are not per task
            before = pss_kib()
            start = time.perf_counter()
            for root in roots:
                runner.run(runner.load(root), inputs, timeout=60)
            per_task = (time.perf_counter() - start) / count
            memory = (pss_kib() - before) / count
            results[mode] = (per_task, memory)
            print(
                f"  vm mode={mode:<12} start-up {per_task * 1000:8.2f} ms/task   memory {memory / 1024:7.2f} MiB/task"
            )
    ctx = mp.get_context("spawn")
    procs, times, pss = [], [], []
    for root in roots:
        start = time.perf_counter()
        pool = cf.ProcessPoolExecutor(1, mp_context=ctx)
        pool.submit(process_run, str(root), inputs).result(60)
        times.append(time.perf_counter() - start)
        procs.append(pool)
    for pool in procs:
        pss.extend(pss_kib(pid) for pid in pool._processes)
    for pool in procs:
        pool.shutdown()
    proc_time = sum(times) / len(times)
    proc_mem = sum(pss) / len(pss)
    print(
        f"  worker process (spawn)   start-up {proc_time * 1000:8.2f} ms/task   memory {proc_mem / 1024:7.2f} MiB/task"
    )
    for mode, (t, m) in results.items():
        print(
            f"  mode={mode}: start-up {proc_time / t:6.1f}x faster, memory {proc_mem / max(m, 1):6.1f}x smaller than a process"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tasks", type=int, default=8, help="tasks for start-up/memory figures")
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    parent = Path(tempfile.mkdtemp(prefix="walle-vm-bench-"))
    try:
        root = make_bundle(parent, "bench", concurrency=args.workers)
        module = load_task_module(str(root))
        iters_per_ms, _ = calibrate(module)
        reps_8ms = max(1, round(8 * module_reps_per_ms(module)))
        bench_workload(
            "python-bound (5 ms Python, no model)",
            root,
            {"py_iters": 5 * iters_per_ms, "model_reps": 0},
            args.runs,
            args.workers,
            module,
        )
        bench_workload(
            "engine-bound (1 ms Python + ~8 ms GIL-free stand-in model)",
            root,
            {"py_iters": iters_per_ms, "model_reps": reps_8ms},
            args.runs,
            args.workers,
            module,
        )
        bench_startup(parent, args.tasks)
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def module_reps_per_ms(module: Any) -> float:
    t = time.perf_counter()
    module.fake_model(10)
    return 10 / ((time.perf_counter() - t) * 1000)


if __name__ == "__main__":
    main()
