"""walle.vm: the thread-level task VM.

Runs many ML tasks (bundles of Python code, models and resources described by
``task.toml``) inside one process, each isolated in its own module namespace
(``mode="thread"``) or its own sub-interpreter with its own GIL (``mode="interpreter"``,
Python 3.12+).

    >>> from walle.vm import Runner
    >>> with Runner(workers=2, mode="thread") as runner:
    ...     name = runner.load("bundles/classify")
    ...     outputs = runner.run(name, {"image": pixels}, timeout=5)

Heavy submodules are imported lazily (PEP 562) so that a sub-interpreter importing
``walle.vm.guest`` pays only for what it uses.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import (
    BundleError,
    ModeUnavailable,
    QueueFull,
    RunnerClosed,
    TaskCancelled,
    TaskError,
    TaskTimeout,
    UnknownTask,
    VMError,
)

_LAZY = {
    "Bundle": "walle.vm.bundle",
    "BundleLimits": "walle.vm.bundle",
    "load_bundle": "walle.vm.bundle",
    "Runner": "walle.vm.runner",
    "TaskFuture": "walle.vm.runner",
    "TaskContext": "walle.vm.context",
}

__all__ = [
    "Bundle",
    "BundleError",
    "BundleLimits",
    "ModeUnavailable",
    "QueueFull",
    "Runner",
    "RunnerClosed",
    "TaskCancelled",
    "TaskContext",
    "TaskError",
    "TaskFuture",
    "TaskTimeout",
    "UnknownTask",
    "VMError",
    "load_bundle",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'walle.vm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
