"""Benchmark of walle.vm: sequential vs mode="thread" / "interpreter" / "process" vs processes.

Every task run is pure-Python pre-processing plus one run of a small conv net through
the walle engine (threads=1 per session, so W workers use W cores); see bench_task.py.
  python-bound  ~8 ms of Python pre-processing + the model (~3.5 ms)
  engine-bound  ~0.7 ms of Python pre-processing + the model
Measured, each repeated and reported as the median (variants interleaved, because the
machine may be shared):
  throughput   N runs of one task: sequential on the main thread (no VM), a Runner per
               mode, and a spawn process pool whose workers have the task loaded.
  start-up     a new task until its first result: Runner.load + first run (model load
               included); interpreter mode cold (the sub-interpreter is created for the
               task) and warm (taken from the pool of booted ones, refilled in the
               background); a process started cold (spawn + imports + load + run); and a
               task loaded into an already running process-pool worker; the VM's process
               tier: a worker forked from the warm template (engine imported) per task.
  memory       PSS slope while loading 1..20 tasks (each with its model, run once):
               the host's PSS for the in-process VM modes, host + template + workers for
               mode="process", host + worker processes for the spawned pool;
               also without the model session's own memory (measured alone), which
               every variant pays alike.

    python bench/vm/bench_vm.py [--runs 60] [--repeats 5] [--workers 2] [--startups 7]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import walle

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_task, here and in workers

from bench_task import (
    build_model,
    load_direct,
    make_bundle,
    process_run,
    pss_kib,
    settled_pss_kib,
    trim_memory,
    worker_pid,
)
from walle.vm import Runner
from walle.vm.subinterp import AVAILABLE, UNAVAILABLE_REASON

WAIT = 120
SPAWN = mp.get_context("spawn")
MEMORY_COUNTS = (1, 5, 10, 15, 20)


def pixels() -> bytes:
    return bytes(range(256)) * (3 * 64 * 64 // 256)


def elapsed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cpu_seconds() -> float:
    """CPU time of this process, all threads (worker processes are not included)."""
    t = os.times()
    return t.user + t.system


def calibrate(root: Path) -> tuple[int, dict[str, float]]:
    """Blur passes for ~8 ms of Python, and the single-threaded cost of each part (ms)."""
    module, ctx = load_direct(root)
    raw = pixels()
    x = module.normalize(raw)
    module.run(ctx, {"pixels": raw, "blur_passes": 1})
    cost = {
        "normalize": min(elapsed(lambda: module.normalize(raw)) for _ in range(20)) * 1000,
        "blur pass": min(elapsed(lambda: module.blur(x, 1)) for _ in range(20)) * 1000,
        "model run": min(
            elapsed(lambda: module.run(ctx, {"pixels": raw, "blur_passes": 0})) for _ in range(20)
        )
        * 1000
        - min(elapsed(lambda: module.normalize(raw)) for _ in range(5)) * 1000,
    }
    passes = max(1, round((8.0 - cost["normalize"]) / cost["blur pass"]))
    return passes, cost


def _warm_process(root: str, inputs: dict[str, Any]) -> int:
    process_run(root, inputs)
    time.sleep(0.2)  # hold this worker so that the next warm-up call lands on another
    return worker_pid()


def bench_throughput(
    root: Path, workloads: dict[str, dict[str, Any]], runs: int, repeats: int, workers: int
) -> tuple[dict[str, dict[str, list[float]]], dict[str, dict[str, list[float]]]]:
    """Seconds per batch of ``runs`` and this process's CPU cores used during it (the
    machine may be shared: fewer than ``workers`` means others took the CPU):
    {workload: {variant: [one per repeat]}} each."""
    module, ctx = load_direct(root)
    runners = {"vm mode=thread": Runner(workers, "thread")}
    if AVAILABLE:
        runners["vm mode=interpreter"] = Runner(workers, "interpreter")
    runners["vm mode=process"] = Runner(workers, "process")
    pool = cf.ProcessPoolExecutor(workers, mp_context=SPAWN)
    try:
        some = next(iter(workloads.values()))
        for runner in runners.values():
            task = runner.load(root)
            for future in [runner.submit(task, some) for _ in range(8 * workers)]:
                future.result(WAIT)  # every slot (and its model) created before timing
        pids: set[int] = set()
        while len(pids) < workers:  # every worker process has the task and model loaded
            pids.update(pool.map(_warm_process, [str(root)] * workers, [some] * workers))

        def in_runner(runner: Runner, inputs: dict[str, Any]) -> None:
            for future in [runner.submit(root.name, inputs) for _ in range(runs)]:
                future.result(WAIT)

        variants: dict[str, Callable[[dict[str, Any]], Any]] = {
            "sequential": lambda inputs: [module.run(ctx, inputs) for _ in range(runs)],
            **{name: (lambda inputs, r=r: in_runner(r, inputs)) for name, r in runners.items()},
            "process pool": lambda inputs: list(pool.map(process_run, [str(root)] * runs, [inputs] * runs)),
        }
        results: dict[str, dict[str, list[float]]] = {w: {v: [] for v in variants} for w in workloads}
        cores: dict[str, dict[str, list[float]]] = {w: {v: [] for v in variants} for w in workloads}
        names = list(variants)
        for rep in range(repeats):
            for workload, inputs in workloads.items():
                for name in names[rep % len(names) :] + names[: rep % len(names)]:  # rotate order
                    cpu = cpu_seconds()
                    wall = elapsed(lambda f=variants[name], i=inputs: f(i))
                    results[workload][name].append(wall)
                    cores[workload][name].append((cpu_seconds() - cpu) / wall)
        return results, cores
    finally:
        for runner in runners.values():
            runner.close()
        pool.shutdown()


def bench_startup(
    parent: Path, model: Path, count: int, inputs: dict[str, Any]
) -> dict[str, list[tuple[float, float]]]:
    """(load seconds, first-run seconds) per new task, per variant; load is 0 where the two
    cannot be told apart (a process's first result includes everything)."""
    thread = Runner(1, "thread")
    cold = Runner(1, "interpreter", warm_interpreters=0) if AVAILABLE else None
    warm = Runner(1, "interpreter", warm_interpreters=2) if AVAILABLE else None
    forked = Runner(1, "process")
    forked.run(forked.load(make_bundle(parent, "first-forked", model)), inputs, timeout=WAIT)  # template up
    worker = cf.ProcessPoolExecutor(1, mp_context=SPAWN)
    worker.submit(process_run, str(make_bundle(parent, "first", model)), inputs).result(WAIT)
    results: dict[str, list[tuple[float, float]]] = {}

    def in_vm(label: str, runner: Runner, bundle: Path) -> None:
        runner.wait_warm(WAIT)  # a no-op but for the warm pool: measure a refilled pool
        start = time.perf_counter()
        name = runner.load(bundle)
        loaded = time.perf_counter()
        runner.run(name, inputs, timeout=WAIT)
        results.setdefault(label, []).append((loaded - start, time.perf_counter() - loaded))

    def in_process(label: str, pool: cf.ProcessPoolExecutor | None, bundle: Path) -> None:
        start = time.perf_counter()
        fresh = pool or cf.ProcessPoolExecutor(1, mp_context=SPAWN)
        fresh.submit(process_run, str(bundle), inputs).result(WAIT)
        results.setdefault(label, []).append((0.0, time.perf_counter() - start))
        if pool is None:
            fresh.shutdown()

    try:
        for i in range(count):
            in_vm("vm mode=thread", thread, make_bundle(parent, f"st{i}", model))
            if cold is not None and warm is not None:
                in_vm("vm mode=interpreter, cold", cold, make_bundle(parent, f"sc{i}", model))
                in_vm("vm mode=interpreter, warm pool", warm, make_bundle(parent, f"sw{i}", model))
            in_vm("vm mode=process, warm template", forked, make_bundle(parent, f"sf{i}", model))
            in_process("process, cold (spawn)", None, make_bundle(parent, f"sp{i}", model))
            in_process("process-pool worker, warm", worker, make_bundle(parent, f"sq{i}", model))
    finally:
        for runner in (thread, cold, warm, forked):
            if runner is not None:
                runner.close()
        worker.shutdown()
    return results


def _slope(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of (tasks, KiB)."""
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)


def _tier_pss_kib(runner: Runner) -> int:
    """PSS of the process tier's template and its worker processes (0 in other modes)."""
    server = runner._forkserver
    if server is None or server._proc is None:
        return 0
    template = server._proc.pid
    children: list[str] = []
    for task in Path(f"/proc/{template}/task").iterdir():
        children += (task / "children").read_text().split()
    return pss_kib(template) + sum(pss_kib(pid) for pid in children)


def bench_memory(parent: Path, model: Path, inputs: dict[str, Any]) -> dict[str, float]:
    """KiB per extra task (PSS slope over MEMORY_COUNTS tasks), per variant."""
    slopes: dict[str, float] = {}
    modes = ["thread"] + (["interpreter"] if AVAILABLE else []) + ["process"]
    for mode in modes:
        points = []
        with Runner(1, mode) as runner:
            for n in range(1, MEMORY_COUNTS[-1] + 1):
                runner.run(runner.load(make_bundle(parent, f"m{mode[:2]}{n}", model)), inputs, timeout=WAIT)
                if n in MEMORY_COUNTS:
                    runner.wait_warm(WAIT)  # the pool is back to its size, a constant
                    trim_memory()
                    points.append((n, float(pss_kib() + _tier_pss_kib(runner))))
        slopes[f"vm mode={mode}"] = _slope(points)
    points, workers = [], []
    try:
        for n in range(1, MEMORY_COUNTS[-1] + 1):
            worker = cf.ProcessPoolExecutor(1, mp_context=SPAWN)
            workers.append(worker)
            worker.submit(process_run, str(make_bundle(parent, f"mp{n}", model)), inputs).result(WAIT)
            if n in MEMORY_COUNTS:
                trim_memory()
                total = pss_kib() + sum(w.submit(settled_pss_kib).result(WAIT) for w in workers)
                points.append((n, float(total)))
    finally:
        for worker in workers:
            worker.shutdown()
    slopes["worker process"] = _slope(points)
    module, _ = load_direct(make_bundle(parent, "msession", model))
    sessions, points = [], []
    for n in range(1, MEMORY_COUNTS[-1] + 1):  # what every variant holds per task for its model
        sessions.append(SimpleNamespace(models={"net": walle.load(model, threads=1)}))
        module.run(sessions[-1], inputs)
        if n in MEMORY_COUNTS:
            trim_memory()
            points.append((n, float(pss_kib())))
    slopes["model session alone"] = _slope(points)
    return slopes


def report_throughput(
    measured: tuple[dict[str, dict[str, list[float]]], dict[str, dict[str, list[float]]]], runs: int
) -> None:
    thr, cores = measured
    for workload, variants in thr.items():
        print(f"\nthroughput, {workload} ({runs} runs per batch, median of {len(variants['sequential'])})")
        base = statistics.median(variants["sequential"])
        for name, times in variants.items():
            t = statistics.median(times)
            spread = f"[{runs / max(times):.0f}-{runs / min(times):.0f}]"
            used = (
                ""
                if name == "process pool"
                else f"  cores used {statistics.median(cores[workload][name]):4.2f}"
            )
            print(
                f"  {name:<22} {runs / t:7.1f} runs/s {spread:>10}  {t * 1000 / runs:6.2f} ms/run  "
                f"{base / t:5.2f}x{used}"
            )
        if not AVAILABLE:
            print(f"  vm mode=interpreter    skipped: {UNAVAILABLE_REASON}")


def report_startup(startup: dict[str, list[tuple[float, float]]]) -> None:
    print(f"\nstart-up of a new task until its first result (median of {len(next(iter(startup.values())))})")
    proc = statistics.median(a + b for a, b in startup["process, cold (spawn)"])
    warm_proc = statistics.median(a + b for a, b in startup["process-pool worker, warm"])
    for name, pairs in startup.items():
        total = statistics.median(a + b for a, b in pairs)
        split = (
            f"(load {statistics.median(a for a, _ in pairs) * 1000:6.1f} + first run "
            f"{statistics.median(b for _, b in pairs) * 1000:6.1f})"
            if any(a for a, _ in pairs)
            else " " * 33
        )
        print(
            f"  {name:<32} {total * 1000:7.1f} ms {split}  {proc / total:5.1f}x vs cold process, "
            f"{warm_proc / total:4.1f}x vs warm worker"
        )


def report_memory(memory: dict[str, float]) -> None:
    print(f"\nmemory per extra task (PSS slope over {', '.join(map(str, MEMORY_COUNTS))} tasks, MiB)")
    session = memory.pop("model session alone")
    proc = memory["worker process"]
    print(
        f"  the task's model session alone (walle.load + 1 run, same in every variant): {session / 1024:.2f}"
    )
    print(f"  {'':<22} {'with model':>10} {'vs process':>10}   {'without':>8} {'vs process':>10}")
    for name, kib in memory.items():
        print(
            f"  {name:<22} {kib / 1024:10.2f} {proc / kib:9.1f}x   {(kib - session) / 1024:8.2f} "
            f"{(proc - session) / max(kib - session, 1.0):9.1f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=60, help="runs per throughput batch")
    parser.add_argument("--repeats", type=int, default=5, help="batches per variant")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--startups", type=int, default=7, help="new tasks timed per start-up variant")
    parser.add_argument("--skip", nargs="*", default=[], choices=["throughput", "startup", "memory"])
    args = parser.parse_args()
    parent = Path(tempfile.mkdtemp(prefix="walle-vm-bench-"))
    try:
        model = build_model(parent / "model")
        root = make_bundle(parent, "bench", model, concurrency=args.workers)
        passes, cost = calibrate(root)
        print(
            f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
            f"model {model.stat().st_size // 1024} KiB, single-threaded: "
            + ", ".join(f"{k} {v:.2f} ms" for k, v in cost.items())
        )
        workloads = {
            f"python-bound ({passes} blur passes)": {"pixels": pixels(), "blur_passes": passes},
            "engine-bound (normalize only)": {"pixels": pixels(), "blur_passes": 0},
        }
        light = workloads["engine-bound (normalize only)"]
        if "throughput" not in args.skip:
            report_throughput(
                bench_throughput(root, workloads, args.runs, args.repeats, args.workers), args.runs
            )
        if "startup" not in args.skip:
            report_startup(bench_startup(parent, model, args.startups, light))
        if "memory" not in args.skip:
            report_memory(bench_memory(parent, model, light))
        print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(parent, ignore_errors=True)


if __name__ == "__main__":
    main()
