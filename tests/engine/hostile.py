"""Helpers for tests that feed Walle hostile models and inputs.

A hostile case may crash the process (SIGSEGV in the planner, onnx aborting), and a crash
must fail the test rather than kill pytest: each case runs in a child Python process that
prints one JSON line per case, ``{"case", "error", "message"}`` (error is the exception's
class name, or ``null`` when nothing was raised). A child that dies reports the cases it
finished; the one it was running is recorded as a crash and the rest run in a new child.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from walle.converters.onnx.writer import GraphSpec, NodeSpec, TensorValue, ValueSpec, serialize

FLOAT, INT64 = 1, 7

# Runs in the child: `CASES` maps a case name to (model path, feed or None); each case loads
# the model (and runs it when a feed is given) and reports what it raised.
_CHILD = textwrap.dedent("""
    import json, pickle, sys
    import walle
    cases = pickle.load(open(sys.argv[1], "rb"))
    for name, (path, feed, options) in cases.items():
        try:
            session = walle.load(path, **options)
            if feed is not None:
                session.run(feed)
            result = {"case": name, "error": None, "message": ""}
        except Exception as e:
            result = {"case": name, "error": type(e).__name__, "message": str(e)}
        print(json.dumps(result), flush=True)
""")


def write_model(path: Path, nodes: list[NodeSpec], inputs: list[ValueSpec], outputs: list[ValueSpec],
                initializers: list[TensorValue] | None = None) -> Path:
    """Writes a .walle file directly (no converter, no onnx checks): what a hostile user can make."""
    path.write_bytes(serialize(GraphSpec(inputs, outputs, initializers or [], nodes), "hostile-test"))
    return path


def value(name: str, dims: list[int], dtype: int = FLOAT) -> ValueSpec:
    return ValueSpec(name, dtype, dims, [""] * len(dims))


def const(name: str, array) -> TensorValue:
    return TensorValue(name, np.asarray(array))


def run_isolated(cases: dict[str, tuple[Path, dict | None, dict]], tmp_path: Path, timeout: float = 300,
                 memory_limit: int | None = None) -> tuple[dict[str, dict], subprocess.CompletedProcess]:
    """Loads (and runs) each case in one child process; returns {case: result} and the process.
    `memory_limit` (bytes of address space) keeps a runaway allocation from hurting the machine."""
    import pickle
    import resource

    def limit() -> None:
        if memory_limit:
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    spec = tmp_path / "cases.pickle"
    results: dict[str, dict] = {}
    remaining = {k: (str(p), feed, opts) for k, (p, feed, opts) in cases.items()}
    worst = None
    while remaining:  # after a crash, the cases after the one that crashed run in a new child
        spec.write_bytes(pickle.dumps(remaining))
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(spec)], capture_output=True, text=True,
                              timeout=timeout, env=env, preexec_fn=limit, check=False)
        for line in proc.stdout.splitlines():
            if line.startswith("{"):
                r = json.loads(line)
                results[r["case"]] = r
                remaining.pop(r["case"], None)
        if proc.returncode != 0 or remaining:
            worst = proc
            if remaining:
                crashed = next(iter(remaining))
                results[crashed] = {"case": crashed, "error": f"crash (exit {proc.returncode})",
                                    "message": proc.stderr[-500:]}
                remaining.pop(crashed)
    return results, worst or proc


def assert_all_raise(results: dict[str, dict], proc: subprocess.CompletedProcess, cases, error: str,
                     must_name: dict[str, list[str]]) -> None:
    """Every case ended in `error` whose message names each string in must_name[case]; the child
    exited normally (a crash shows as a negative return code and missing cases)."""
    crashed = {c: r["error"] for c, r in results.items() if r["error"] and r["error"].startswith("crash")}
    assert proc.returncode == 0 and not crashed, f"crashed: {crashed}; {proc.stderr[-2000:]}"
    wrong = {c: r for c, r in results.items() if r["error"] != error
             or not all(s in r["message"] for s in must_name.get(c, []))}
    assert not wrong, f"expected {error} naming {must_name}; got {wrong}"
