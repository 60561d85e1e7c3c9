"""A slot is one instance of a loaded task that executes one run at a time.

A task has up to ``limits.concurrency`` slots; each slot owns its :class:`TaskContext`
(so its models).  ``ThreadSlot`` runs in the host interpreter inside the task's private
namespace; ``InterpreterSlot`` owns a sub-interpreter (:mod:`walle.vm.interp`).
Either is driven by whichever runner worker thread picked the run.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, Protocol

from . import codec
from .capture import ThreadCapture
from .context import TaskContext
from .errors import TaskError
from .interp import GuestInterpreter
from .interrupt import AsyncExcInterrupter
from .isolation import TaskNamespace
from .outcome import Outcome, run_guarded
from .pool import InterpreterPool


class Slot(Protocol):
    def run(self, run_id: int, inputs: Any) -> Outcome:
        """One run; ``inputs`` is the dict (thread mode) or its codec bytes (other modes)."""

    def interrupt(self, run_id: int) -> None:
        """Ask run ``run_id`` to stop (any thread, never blocks)."""

    def kill(self) -> bool:
        """Stop the running task for good; False where that is impossible (in-process)."""

    def close(self) -> None: ...


class ThreadSlot:
    """Runs the entry function directly on the calling worker thread."""

    def __init__(self, fn: Callable[..., Any], context: dict[str, Any]) -> None:
        self._fn = fn
        self.ctx = TaskContext(**context)
        self._interrupter = AsyncExcInterrupter()

    def run(self, run_id: int, inputs: dict[str, Any]) -> Outcome:
        def call() -> Any:
            self._interrupter.begin(run_id)
            return self._fn(self.ctx, inputs)

        start = time.thread_time()
        with ThreadCapture() as out:
            outcome = run_guarded(call, self._interrupter.disarm)
        return outcome.accounted(time.thread_time() - start, None, out.out.getvalue(), out.err.getvalue())

    def interrupt(self, run_id: int) -> None:
        self._interrupter.interrupt(run_id)

    def kill(self) -> bool:
        return False  # a thread cannot be killed

    def close(self) -> None:
        self.ctx = None  # type: ignore[assignment]  # drops models held by this slot


def thread_factory(namespace: TaskNamespace, entry: str, context: dict[str, Any]) -> Callable[[], ThreadSlot]:
    """Slot factory for thread mode; raises TaskError if the entry cannot be imported."""

    def make() -> ThreadSlot:
        try:
            fn = namespace.import_entry(entry)
        except Exception as exc:  # noqa: BLE001 - the task's import-time failure
            out = Outcome.from_exception(exc)
            raise TaskError(context["name"], out.exc_type, out.message, out.traceback) from None
        return ThreadSlot(fn, context)

    return make


class InterpreterSlot:
    """A task instance in its own sub-interpreter (taken booted from the pool).

    A runner worker hands each run to the interpreter's thread and reads the result pipe
    while the guest runs (see :class:`~walle.vm.interp.GuestInterpreter`).
    """

    def __init__(self, interp: GuestInterpreter, config: bytes, task: str) -> None:
        self._interp = interp
        try:
            interp.setup(config, task)
        except BaseException:
            interp.close()
            raise

    def run(self, run_id: int, inputs: bytes) -> Outcome:
        return self._interp.run(run_id, inputs)

    def interrupt(self, run_id: int) -> None:
        self._interp.interrupt(run_id)

    def kill(self) -> bool:
        return False  # a sub-interpreter cannot be stopped from outside

    def close(self) -> None:
        self._interp.close()


def interpreter_factory(
    context: dict[str, Any], entry: str, pool: InterpreterPool
) -> Callable[[], InterpreterSlot]:
    """Slot factory for interpreter mode; the config crosses into the guest as bytes."""
    if not isinstance(context["loader"], str):
        raise TypeError("in mode='interpreter' the model loader must be a 'module:function' string")
    config = codec.dumps(
        {
            "context": context,
            "entry": entry,
            "root": context["root"],
            "sys_path": [p for p in sys.path if isinstance(p, str)],
        }
    )
    return lambda: InterpreterSlot(pool.take(), config, context["name"])
