"""The result of one task run, and the harness that runs an entry function safely.

The harness is shared by thread mode and by the guest side of interpreter mode.  It turns
anything the task raises into data (type name, message, traceback text) so that nothing a
task does (``sys.exit()`` included) unwinds into the runner's worker loop.
"""

from __future__ import annotations

import os
from collections.abc import Callable

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs every sub-interpreter ~0.6 MiB
    from typing import Any


class TaskInterrupt(BaseException):
    """Injected into a task's thread to stop it (timeout or cancel).

    A BaseException so that a task's ``except Exception`` does not swallow it.
    """


class Outcome:
    """``kind`` is "ok" (``value`` holds the outputs), "error", "interrupted", or in the
    process tier "crashed" (the worker died) or "limit" (a resource limit was passed);
    ``message`` then says how.  Accounting: ``cpu`` (seconds), ``peak`` (bytes resident,
    where measured), and what the run printed (``stdout``, ``stderr``).

    A plain class, not a dataclass: ``dataclasses`` costs every sub-interpreter ~6 ms.
    """

    __slots__ = ("cpu", "exc_type", "kind", "message", "peak", "stderr", "stdout", "traceback", "value")

    def __init__(
        self,
        kind: str,
        value: Any = None,
        exc_type: str = "",
        message: str = "",
        traceback: str = "",
        cpu: float | None = None,
        peak: int | None = None,
        stdout: str = "",
        stderr: str = "",
    ) -> None:
        self.kind = kind
        self.value = value
        self.exc_type = exc_type
        self.message = message
        self.traceback = traceback
        self.cpu = cpu
        self.peak = peak
        self.stdout = stdout
        self.stderr = stderr

    @classmethod
    def from_exception(cls, exc: BaseException) -> Outcome:
        import traceback  # only failures pay for it

        report = traceback.TracebackException(type(exc), exc, exc.__traceback__)
        _drop_vm_frames(report, set())
        text = "".join(report.format())
        name = type(exc).__qualname__
        module = type(exc).__module__
        if module not in ("builtins", "__main__"):
            name = f"{module}.{name}"
        return cls("error", exc_type=name, message=str(exc), traceback=text)

    def accounted(self, cpu: float | None, peak: int | None, stdout: str, stderr: str) -> Outcome:
        """A copy with the run's accounting and captured output."""
        return Outcome(
            self.kind, self.value, self.exc_type, self.message, self.traceback, cpu, peak, stdout, stderr
        )

    def as_tuple(self) -> tuple[Any, ...]:
        """Plain-data form used to cross interpreter boundaries."""
        return (
            self.kind, self.value, self.exc_type, self.message, self.traceback,
            self.cpu, self.peak, self.stdout, self.stderr,
        )  # fmt: skip


INTERRUPTED = Outcome("interrupted")
_VM_DIR = os.path.dirname(os.path.abspath(__file__))


def _drop_vm_frames(report: Any, seen: set[int]) -> None:
    """Remove the VM's frames (and importlib's) so a traceback shows only task code."""
    if report is None or id(report) in seen:
        return
    seen.add(id(report))
    kept = [frame for frame in report.stack if not _is_vm_frame(frame.filename)]
    report.stack = type(report.stack).from_list(kept)
    _drop_vm_frames(report.__cause__, seen)
    _drop_vm_frames(report.__context__, seen)


def _is_vm_frame(filename: str) -> bool:
    # the VM's own files, and importlib's frames above a task's import-time failure
    return os.path.dirname(filename) == _VM_DIR or filename.startswith("<frozen importlib")


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
