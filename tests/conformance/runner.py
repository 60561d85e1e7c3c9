"""Runs the ONNX backend conformance suite through Walle (or onnxruntime) and reports a
per-op-type table.

    python tests/conformance/runner.py [--engine walle|onnxruntime] [--workers 2]
        [--kinds node,simple,pytorch-converted,pytorch-operator] [--filter REGEX]
        [--report report.md] [--json results.json]

Each test runs in a worker process (worker.py); a worker that dies (a crash) or runs past the
per-test time limit is killed and replaced, and that test counts as a failure.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import queue
import re
import selectors
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cases import MODEL_KINDS, CaseRef, write_suite

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")


@dataclass
class Result:
    case: CaseRef
    status: str  # "pass" | "fail"
    category: str  # why it failed: UnsupportedOpError, value, shape, dtype, crash, timeout, ...
    message: str
    seconds: float


class _Worker:
    """One worker process speaking the line protocol of worker.py."""

    def __init__(self, engine: str) -> None:
        self.engine = engine
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the worker
        self.proc = subprocess.Popen([sys.executable, WORKER, engine], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True, bufsize=1)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        if self._read(120) != "ready":
            raise RuntimeError(f"conformance worker failed to start: {self._stderr_tail()}")

    def _read(self, timeout: float) -> str | None:
        if not self.sel.select(timeout):
            return None
        line = self.proc.stdout.readline()
        return line.rstrip("\n") if line else ""

    def _stderr_tail(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")[-400:]

    def run(self, case: CaseRef, timeout: float) -> tuple[str, str, str]:
        self.stderr.seek(0)
        self.stderr.truncate()
        try:
            self.proc.stdin.write(case.path + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            return "fail", "crash", "worker gone"
        line = self._read(timeout)
        if line is None:
            return "fail", "timeout", f"no result within {timeout:.0f} s"
        if line == "":
            code = self.proc.wait()
            return "fail", "crash", f"process died (exit {code}): {self._stderr_tail().strip()}"
        r = json.loads(line)
        return r["status"], r["category"], r["message"]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.alive():
            self.proc.kill()
        self.proc.wait()
        self.sel.close()
        self.stderr.close()


def run_suite(cases: list[CaseRef], engine: str = "walle", workers: int = 2, timeout: float = 60.0,
              progress: bool = False) -> list[Result]:
    todo: queue.Queue[CaseRef] = queue.Queue()
    for c in cases:
        todo.put(c)
    results: list[Result] = []
    lock = threading.Lock()

    def serve() -> None:
        w = _Worker(engine)
        try:
            while True:
                try:
                    case = todo.get_nowait()
                except queue.Empty:
                    return
                t0 = time.perf_counter()
                status, category, message = w.run(case, timeout)
                if category in ("crash", "timeout") or not w.alive():
                    w.close()
                    w = _Worker(engine)
                with lock:
                    results.append(Result(case, status, category, message, time.perf_counter() - t0))
                    if progress and len(results) % 100 == 0:
                        print(f"  {len(results)}/{len(cases)}", file=sys.stderr, flush=True)
        finally:
            w.close()

    threads = [threading.Thread(target=serve) for _ in range(max(1, workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    order = {id(c): i for i, c in enumerate(cases)}
    results.sort(key=lambda r: order[id(r.case)])
    return results


def summary(results: list[Result]) -> dict[str, dict[str, int]]:
    """Per kind: tests, passed, crashes, timeouts."""
    out: dict[str, dict[str, int]] = {}
    for r in results:
        s = out.setdefault(r.case.kind, {"tests": 0, "passed": 0, "crashes": 0, "timeouts": 0})
        s["tests"] += 1
        s["passed"] += r.status == "pass"
        s["crashes"] += r.category == "crash"
        s["timeouts"] += r.category == "timeout"
    return out


def _first_line(msg: str, limit: int = 110) -> str:
    line = msg.strip().splitlines()[0] if msg.strip() else ""
    line = re.sub(r"\s+", " ", line).replace("|", "\\|")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def report(results: list[Result], engine: str) -> str:
    """Markdown: totals, one row per op type (tests, passed, why the rest fail), then every
    failing test with its message."""
    lines = [f"# ONNX backend conformance: {engine}", ""]
    s = summary(results)
    lines += ["| suite | tests | passed | crashes | timeouts |", "|---|---:|---:|---:|---:|"]
    for kind in ("node", *MODEL_KINDS):
        if kind in s:
            k = s[kind]
            lines.append(f"| {kind} | {k['tests']} | {k['passed']} | {k['crashes']} | {k['timeouts']} |")
    lines += ["", "## Per operator type (node tests; model suites by suite)", "",
              "| op type | tests | passed | failing because |", "|---|---:|---:|---|"]
    by_op: dict[str, list[Result]] = collections.defaultdict(list)
    for r in results:
        by_op[r.case.op_type].append(r)
    for op in sorted(by_op, key=lambda o: (-sum(r.status != "pass" for r in by_op[o]), o)):
        rs = by_op[op]
        passed = sum(r.status == "pass" for r in rs)
        why = collections.Counter(r.category for r in rs if r.status != "pass")
        reasons = []
        for cat, n in why.most_common(3):
            example = next(r for r in rs if r.category == cat)
            reasons.append(f"{n}x {cat}: {_first_line(example.message, 90)}")
        lines.append(f"| {op} | {len(rs)} | {passed} | {'; '.join(reasons)} |")
    lines += ["", "## Failing tests", "", "| test | suite | op type | category | message |", "|---|---|---|---|---|"]
    for r in results:
        if r.status != "pass":
            lines.append(f"| {r.case.name} | {r.case.kind} | {r.case.op_type} | {r.category} | {_first_line(r.message)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--engine", default="walle",
                   help="walle, walle:<backend> (walle:opencl, walle:vulkan, ...) or onnxruntime")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--kinds", default=",".join(("node", *MODEL_KINDS)))
    p.add_argument("--filter", default="", help="only tests whose name matches this regex")
    p.add_argument("--report", default="", help="write the markdown table here")
    p.add_argument("--json", default="", help="write per-test results here")
    p.add_argument("--data", default="", help="folder for the generated suite (default: a temporary one)")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="walle-suite-") as tmp:
        cases = write_suite(Path(a.data or tmp), tuple(a.kinds.split(",")))
        if a.filter:
            cases = [c for c in cases if re.search(a.filter, c.name)]
        t0 = time.perf_counter()
        results = run_suite(cases, a.engine, a.workers, a.timeout, progress=True)
        elapsed = time.perf_counter() - t0
    text = report(results, a.engine)
    if a.report:
        Path(a.report).write_text(text)
    if a.json:
        Path(a.json).write_text(json.dumps([{"name": r.case.name, "kind": r.case.kind, "op": r.case.op_type,
                                             "status": r.status, "category": r.category, "message": r.message,
                                             "seconds": round(r.seconds, 3)} for r in results], indent=1))
    for kind, k in summary(results).items():
        print(f"{kind}: {k['passed']}/{k['tests']} passed, {k['crashes']} crashes, {k['timeouts']} timeouts")
    print(f"ran in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
