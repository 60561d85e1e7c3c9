"""walle.vm: the task VM.

Runs many ML tasks (bundles of Python code, models and resources described by
``task.toml``) under one :class:`Runner`, in one of three isolation modes:

* ``mode="thread"``: in this interpreter, each task in its own module namespace.  Cheapest
  (a task costs ~0 MiB beyond its model), but a task that calls ``os._exit`` or crashes in C
  ends the host, and a run that ignores interrupts can only be abandoned.
* ``mode="interpreter"`` (Python 3.12+): each task instance in its own sub-interpreter with
  its own GIL, so tasks' Python code runs in parallel.  Same containment as thread mode.
* ``mode="process"``: each task instance in a worker process forked from a warm template
  (engine imported).  For untrusted or crashy tasks: a dead worker (exit, signal, out of
  memory) fails only its run with :class:`TaskCrashed` naming the code or signal, and is
  replaced (``limits.max_retries`` re-runs it); ``limits.memory_mb`` (RLIMIT_AS) and
  ``limits.cpu_time`` (RLIMIT_CPU) give :class:`TaskLimitExceeded`; a run past
  ``limits.run_timeout`` that ignores the interrupt is killed.

    >>> from walle.vm import Runner
    >>> with Runner(workers=2, mode="process") as runner:
    ...     name = runner.load("bundles/classify")
    ...     outputs = runner.run(name, {"image": pixels}, timeout=5)
    ...     usage = runner.stats()["tasks"][name]  # runs, failures by kind, cpu_time, peak_memory

:class:`TaskExecutor` offers the same as a ``concurrent.futures.Executor`` (``submit``,
``map``, ``shutdown(cancel_futures=)``), each future carrying its run's ``stdout`` and
``stderr``.  Inputs: thread mode passes the caller's objects as they are; the other modes
copy them (an input that cannot be copied raises :class:`InputError` at submit), and
buffers (numpy arrays, ``walle.Tensor``) arrive as numpy arrays where numpy imports (the
process tier) and as ``memoryview`` in sub-interpreters, where numpy 2.x refuses to load.
Abandoned runs (in-process modes) are counted and capped by ``max_abandoned``
(:class:`TaskQuarantined`); the host still exits normally, with its own exit code.

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
