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

from walle._lazy import lazy_attributes

from .errors import (
    BundleError,
    InputError,
    ModeUnavailable,
    QueueFull,
    RunnerClosed,
    TaskCancelled,
    TaskCrashed,
    TaskError,
    TaskLimitExceeded,
    TaskQuarantined,
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
    "TaskExecutor": "walle.vm.executor",
    "TaskContext": "walle.vm.context",
}

__all__ = [
    "Bundle",
    "BundleError",
    "BundleLimits",
    "InputError",
    "ModeUnavailable",
    "QueueFull",
    "Runner",
    "RunnerClosed",
    "TaskCancelled",
    "TaskContext",
    "TaskCrashed",
    "TaskError",
    "TaskExecutor",
    "TaskFuture",
    "TaskLimitExceeded",
    "TaskQuarantined",
    "TaskTimeout",
    "UnknownTask",
    "VMError",
    "load_bundle",
]


__getattr__, __dir__ = lazy_attributes("walle.vm", globals(), _LAZY)
