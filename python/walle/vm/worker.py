"""Worker side of the process tier: the loop each forked worker process runs.

A worker holds one task instance.  The host sends codec-encoded requests as frames on
the worker's socket: ``("setup", config, memory_mb)`` once, then ``("run", run_id,
payload, cpu_time)`` per run; every request gets one outcome back.  The task runs on the
main thread, so the interrupt signal (SIGUSR1) reaches it even inside ``time.sleep``.
Limits are the kernel's: RLIMIT_AS for memory (set before the task is imported, counted
from the worker's size at that point), RLIMIT_CPU per run (SIGXCPU's default action ends
the worker; the host reports it).  EOF on the socket ends the worker.
"""

from __future__ import annotations

import importlib
import resource
import signal
import sys
from typing import Any

from . import codec, frames
from .capture import StreamCapture
from .context import TaskContext
from .entry import resolve_entry
from .outcome import Outcome, TaskInterrupt, run_guarded

INTERRUPT_SIGNAL = signal.SIGUSR1


class _SignalInterrupter:
    """Raises TaskInterrupt in the task when the host sends SIGUSR1 during a run."""

    def __init__(self) -> None:
        self._active = False
        signal.signal(INTERRUPT_SIGNAL, self._handler)

    def _handler(self, signum: int, frame: Any) -> None:
        if self._active:  # a late signal between runs is ignored
            raise TaskInterrupt

    def begin(self) -> None:
        self._active = True

    def disarm(self) -> None:
        self._active = False


def _vm_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * resource.getpagesize()


def _reset_peak() -> bool:
    """Start a new resident-memory peak (Linux's VmHWM); False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_bytes() -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Worker:
    def __init__(self) -> None:
        self.interrupter = _SignalInterrupter()
        self.ctx: TaskContext | None = None
        self.fn: Any = None

    def setup(self, config: dict[str, Any], memory_mb: int | None) -> Outcome:
        try:
            if memory_mb is not None:
                limit = _vm_bytes() + (memory_mb << 20)
                resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            sys.path[:] = [config["root"], *config["sys_path"]]
            module = importlib.import_module(config["entry"].partition(":")[0])
            self.fn = resolve_entry(module, config["entry"])
            self.ctx = TaskContext(**config["context"])
        except BaseException as exc:  # noqa: BLE001 - the task's import-time failure
            return Outcome.from_exception(exc)
        return Outcome("ok")

    def run(self, payload: bytes, cpu_time: int | None) -> Outcome:
        def call() -> Any:
            inputs = codec.loads(payload)
            self.interrupter.begin()
            return self.fn(self.ctx, inputs)

        measured = _reset_peak()
        start = _cpu_seconds()
        if cpu_time is not None:
            resource.setrlimit(resource.RLIMIT_CPU, (int(start) + 1 + cpu_time, resource.RLIM_INFINITY))
        try:
            with StreamCapture() as out:
                outcome = run_guarded(call, self.interrupter.disarm)
        finally:
            if cpu_time is not None:
                resource.setrlimit(resource.RLIMIT_CPU, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        peak = _peak_bytes() if measured else None
        return outcome.accounted(_cpu_seconds() - start, peak, out.out.getvalue(), out.err.getvalue())


def _encode(outcome: Outcome) -> bytes:
    try:
        return codec.dumps(outcome.as_tuple())
    except Exception as exc:  # noqa: BLE001 - outputs that cannot cross become a task error
        failed = Outcome("error", exc_type="walle.vm.OutputError",
                         message=f"task outputs cannot be sent back to the host: {exc}")
        return codec.dumps(failed.accounted(outcome.cpu, outcome.peak, outcome.stdout, outcome.stderr).as_tuple())


def serve(fd: int) -> None:
    """Answer requests on socket ``fd`` until the host closes it."""
    worker = _Worker()
    while True:
        try:
            request = codec.loads(frames.read_frame(fd))
        except EOFError:
            return
        kind = request[0]
        if kind == "setup":
            outcome = worker.setup(codec.loads(request[1], use_numpy=False), request[2])
        elif kind == "run":
            outcome = worker.run(request[2], request[3])
        else:
            outcome = Outcome("error", exc_type="walle.vm.ProtocolError", message=f"unknown request {kind!r}")
        frames.write_frame(fd, _encode(outcome))
