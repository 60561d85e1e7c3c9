"""``walle task check``'s deep part: import the entry, check its signature, load every model.

Runs in a child process (``python -c``) with kernel limits on memory and CPU, so that
checking an untrusted bundle cannot hurt the caller: import-time code may crash, exit or
allocate without bound.  :func:`check_in_sandbox` starts it and turns whatever happened,
the child's death included, into "file: field: reason" problem lines.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import subprocess
import sys
from typing import Any

from .context import context_config, resolve_loader
from .entry import resolve_entry, signature_problem
from .forkserver import describe_exit
from .manifest import MANIFEST_NAME
from .outcome import Outcome

_BOOT = "import sys, json; sys.path[:] = json.loads(sys.argv[1]); from walle.vm.checker import main; main()"
MEMORY_MB = 4096  # address space for the check when the manifest sets no limits.memory_mb
CPU_SECONDS = 60
WALL_SECONDS = 120


def _import_problem(root: str, module_name: str, exc: BaseException) -> str:
    if isinstance(exc, SyntaxError) and exc.filename:
        where = os.path.relpath(exc.filename, root)
        return f"{where}, line {exc.lineno}: SyntaxError: {exc.msg}"
    report = Outcome.from_exception(exc)
    return f"{MANIFEST_NAME}: entry: importing {module_name!r} raised {report.exc_type}: {report.message}\n{report.traceback}"


def check(config: dict[str, Any], entry: str) -> list[str]:
    """Problems found importing ``entry`` and loading the models of ``config`` (a
    :func:`~walle.vm.context.context_config`); runs in the sandbox process."""
    problems: list[str] = []
    root = config["root"]
    sys.path.insert(0, root)
    module_name = entry.partition(":")[0]
    try:
        module = importlib.import_module(module_name)
    except BaseException as exc:  # noqa: BLE001 - any import-time failure is a finding
        problems.append(_import_problem(root, module_name, exc))
    else:
        try:
            why = signature_problem(resolve_entry(module, entry), entry)
        except TypeError as exc:
            why = str(exc)
        if why:
            problems.append(f"{MANIFEST_NAME}: {why}")
    for name, (path, options) in config["models"].items():
        try:
            resolve_loader(config["loader"])(path, **options)
        except BaseException as exc:  # noqa: BLE001 - a model that does not load is a finding
            rel = os.path.relpath(path, root)
            problems.append(f"{MANIFEST_NAME}: models.{name}: cannot load {rel}: {type(exc).__name__}: {exc}")
    return problems


def main() -> None:
    """Sandbox entry: the check request as JSON on stdin, the problems as JSON on stdout."""
    request = json.loads(sys.stdin.read())
    limit = request["memory_mb"] << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    out = sys.stdout
    sys.stdout = sys.stderr  # the task's own prints must not corrupt the answer
    problems = check(request["config"], request["entry"])
    out.write(json.dumps(problems))
    out.flush()


def check_in_sandbox(bundle: Any, loader: str) -> list[str]:
    """Import-time, signature and model problems of a loaded :class:`Bundle`."""
    limits = bundle.manifest_info.limits
    request = {
        "config": context_config(bundle, loader),
        "entry": bundle.entry,
        "memory_mb": (limits.memory_mb or 0) + MEMORY_MB,
    }
    paths = json.dumps([p for p in sys.path if isinstance(p, str)])
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _BOOT, paths],
            input=json.dumps(request), capture_output=True, text=True, timeout=WALL_SECONDS,
            check=False, cwd=str(bundle.root), env=dict(os.environ, MALLOC_ARENA_MAX="2"),
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return [f"{MANIFEST_NAME}: entry: importing the task took more than {WALL_SECONDS}s"]
    try:
        problems = json.loads(proc.stdout) if proc.returncode == 0 else None
    except json.JSONDecodeError:
        problems = None
    if problems is None:
        tail = proc.stderr.strip().splitlines()[-5:]
        detail = ("; stderr: " + " | ".join(tail)) if tail else ""
        return [f"{MANIFEST_NAME}: entry: the check process died ({describe_exit(proc.returncode)}){detail}"]
    return problems
