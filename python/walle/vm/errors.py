"""Errors raised by the task VM; all are :class:`walle.Error` subclasses."""

from __future__ import annotations

from collections.abc import Sequence

from walle.errors import Error


class VMError(Error):
    """Base class of every task-VM error."""


class BundleError(VMError):
    """A task bundle is invalid.  ``problems`` lists every fault as "file: field: reason"."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"invalid task bundle {source} ({len(self.problems)} problem(s)):\n{lines}")


class ModeUnavailable(VMError):
    """The requested isolation mode cannot run on this Python."""


class UnknownTask(VMError):
    """No task of that name is loaded in the runner."""


class QueueFull(VMError):
    """The task's queue already holds ``limits.queue_length`` waiting runs."""


class RunnerClosed(VMError):
    """The runner was closed (or the task unloaded) before the run could finish."""


class TaskError(VMError):
    """The task raised.  ``traceback`` holds the task's formatted traceback text."""

    def __init__(self, task: str, exc_type: str, message: str, traceback: str) -> None:
        self.task = task
        self.exc_type = exc_type
        self.message = message
        self.traceback = traceback
        super().__init__(f"task {task!r} raised {exc_type}: {message}")


class TaskTimeout(VMError):
    """The task ran past its time limit and was interrupted (or abandoned)."""


class TaskCancelled(VMError):
    """The run was cancelled before it finished."""


class TaskCrashed(VMError):
    """The worker process running the task died (exit, signal, kill): ``exit_code`` is its
    exit status (negative: the signal number), ``None`` when it could not be learnt."""

    def __init__(self, task: str, message: str, exit_code: int | None = None) -> None:
        self.task = task
        self.exit_code = exit_code
        super().__init__(message)


class TaskLimitExceeded(VMError):
    """The run went past a resource limit of its task (``limit`` is ``"memory_mb"`` or
    ``"cpu_time"``); in the process tier its worker was replaced."""

    def __init__(self, task: str, limit: str, message: str) -> None:
        self.task = task
        self.limit = limit
        super().__init__(message)


class TaskQuarantined(VMError):
    """The task has runs that ignored interrupts and are still executing, and the runner
    holds ``max_abandoned`` of those: it takes no more runs of it until they end."""


class InputError(VMError):
    """An input cannot be sent to the task (interpreter and process modes copy inputs)."""
