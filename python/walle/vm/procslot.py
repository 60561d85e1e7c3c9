"""A task instance in a worker process of the process tier (see :mod:`walle.vm.worker`).

Whatever ends the worker (``os._exit``, a segfault, SIGKILL, the CPU limit's SIGXCPU)
ends only this slot: its run gets an Outcome of kind "crashed" or "limit" naming the exit
status, the runner discards the slot, and the task's next run gets a fresh worker.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

from . import codec, frames
from .errors import TaskCrashed, TaskError
from .forkserver import ForkServer, WorkerProcess, describe_exit
from .outcome import Outcome
from .worker import INTERRUPT_SIGNAL

_EXIT_WAIT = 10.0  # seconds for the template to report a dead worker's status


class ProcessSlot:
    """One worker process holding one imported instance of the task."""

    def __init__(self, worker: WorkerProcess, task: str, config: bytes, limits: Any) -> None:
        self._worker = worker
        self._task = task
        self._memory_mb: int | None = limits.memory_mb
        self._cpu_time: int | None = limits.cpu_time
        self._killed = False
        try:
            out = self._ask(("setup", config, self._memory_mb))
        except BaseException:
            worker.close()
            raise
        if out.kind == "crashed":
            worker.close()
            raise TaskCrashed(task, f"task {task!r}: {out.message} while importing the task", out.value)
        if out.kind != "ok":
            worker.close()
            raise TaskError(task, out.exc_type, out.message, out.traceback)

    def _ask(self, request: tuple[Any, ...]) -> Outcome:
        """Send one request and wait for its outcome; a dead worker is an Outcome too."""
        fd = self._worker.sock.fileno()
        try:
            frames.write_frame(fd, codec.dumps(request))
            return Outcome(*codec.loads(frames.read_frame(fd)))
        except (EOFError, OSError):
            return self._death()

    def _death(self) -> Outcome:
        code = self._worker.exit_code(_EXIT_WAIT)
        how = describe_exit(code)
        if self._killed:
            return Outcome("interrupted", message=f"killed ({how})")
        if code == -signal.SIGXCPU and self._cpu_time is not None:
            return Outcome(
                "limit", exc_type="cpu_time",
                message=f"exceeded its CPU time limit (limits.cpu_time = {self._cpu_time}s): worker ended by {how}",
            )  # fmt: skip
        return Outcome("crashed", value=code, message=f"its worker process died ({how})")

    def run(self, run_id: int, inputs: bytes) -> Outcome:
        out = self._ask(("run", run_id, inputs, self._cpu_time))
        if out.kind == "error" and out.exc_type == "MemoryError" and self._memory_mb is not None:
            return Outcome(
                "limit", exc_type="memory_mb", traceback=out.traceback, cpu=out.cpu, peak=out.peak,
                message=f"exceeded its memory limit (limits.memory_mb = {self._memory_mb}): {out.message or 'MemoryError'}",
                stdout=out.stdout, stderr=out.stderr,
            )  # fmt: skip
        return out

    def interrupt(self, run_id: int) -> None:
        self._worker.signal(INTERRUPT_SIGNAL)

    def kill(self) -> bool:
        self._killed = True
        self._worker.signal(signal.SIGKILL)
        return True

    def close(self) -> None:
        self._worker.close()


def process_factory(
    context: dict[str, Any], entry: str, server: ForkServer, limits: Any
) -> Callable[[], ProcessSlot]:
    """Slot factory for the process tier; the config crosses to the worker as codec bytes."""
    if not isinstance(context["loader"], str):
        raise TypeError("in mode='process' the model loader must be a 'module:function' string")
    import sys

    config = codec.dumps(
        {"context": context, "entry": entry, "root": context["root"],
         "sys_path": [p for p in sys.path if isinstance(p, str)]}
    )  # fmt: skip
    return lambda: ProcessSlot(server.fork(), context["name"], config, limits)
