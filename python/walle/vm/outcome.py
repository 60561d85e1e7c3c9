"""The result of one task run, and the harness that runs an entry function safely.

The harness is shared by thread mode and by the guest side of interpreter mode.  It turns
anything the task raises into data (type name, message, traceback text) so that nothing a
task does (``sys.exit()`` included) unwinds into the runner's worker loop.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


class TaskInterrupt(BaseException):
    """Injected into a task's thread to stop it (timeout or cancel).

    A BaseException so that a task's ``except Exception`` does not swallow it.
    """


class Outcome:
    """``kind`` is "ok" (``value`` holds the outputs), "error" or "interrupted".

    A plain class, not a dataclass: ``dataclasses`` costs every sub-interpreter ~6 ms.
    """

    __slots__ = ("exc_type", "kind", "message", "traceback", "value")

    def __init__(
        self, kind: str, value: Any = None, exc_type: str = "", message: str = "", traceback: str = ""
    ) -> None:
        self.kind = kind
        self.value = value
        self.exc_type = exc_type
        self.message = message
        self.traceback = traceback

    @classmethod
    def from_exception(cls, exc: BaseException) -> Outcome:
        tb = exc.__traceback__
        # drop the VM's own frames so the traceback starts in task code
        while tb is not None and tb.tb_next is not None and _is_vm_frame(tb.tb_frame.f_code.co_filename):
            tb = tb.tb_next
        import traceback  # only failures pay for it

        text = "".join(traceback.format_exception(type(exc), exc, tb))
        name = type(exc).__qualname__
        module = type(exc).__module__
        if module not in ("builtins", "__main__"):
            name = f"{module}.{name}"
        return cls("error", exc_type=name, message=str(exc), traceback=text)

    def as_tuple(self) -> tuple[Any, ...]:
        """Plain-data form used to cross interpreter boundaries."""
        return (self.kind, self.value, self.exc_type, self.message, self.traceback)


INTERRUPTED = Outcome("interrupted")
_VM_DIR = os.path.dirname(os.path.abspath(__file__))


def _is_vm_frame(filename: str) -> bool:
    return os.path.dirname(filename) == _VM_DIR


def _call_task(call: Callable[[], Any]) -> Outcome:
    try:
        return Outcome("ok", call())
    except TaskInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - a task's failure must become data
        return Outcome.from_exception(exc)


def run_guarded(call: Callable[[], Any], disarm: Callable[[], None]) -> Outcome:
    """Run ``call`` and return its Outcome; ``disarm`` stops further interrupts.

    An interrupt may land anywhere until ``disarm`` has run, including in this function
    after the task returned, so ``disarm`` is retried until it completes and the outcome
    computed before the late interrupt is kept.
    """
    outcome = INTERRUPTED
    try:
        outcome = _call_task(call)
    except TaskInterrupt:
        pass
    while True:
        try:
            disarm()
            return outcome
        except TaskInterrupt:
            continue
