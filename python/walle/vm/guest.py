"""Guest side of interpreter mode: this module is imported *inside* each sub-interpreter.

The host (:mod:`walle.vm.interp`) drives it with four short scripts: ``boot`` once when
the interpreter is created (possibly long before any task exists: see
:mod:`walle.vm.pool`), ``setup`` to import the task, ``run`` per task run, and
``shutdown`` before destroying the interpreter.  Each sends its outcome back as
:mod:`walle.vm.codec` bytes in a frame on the result pipe.  Interrupt requests arrive as
8-byte run ids on a pipe read by a listener thread that lives in this interpreter,
because only code inside the interpreter can arm its ``sys.monitoring``.

It must stay importable without numpy and without ctypes (neither loads here on 3.12),
and cheap to import: every cold interpreter pays for what this module imports.  It still
uses ``threading`` for the listener, because ``Thread.join`` waits until the thread's
state is gone, which destroying the interpreter requires (``_thread`` offers no portable
way to wait for that on both 3.12 and 3.13).
"""

from __future__ import annotations

import importlib
import os
import struct
import sys
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs every sub-interpreter ~0.6 MiB
    from typing import Any

from . import codec
from .capture import StreamCapture
from .context import TaskContext, resolve_loader
from .entry import resolve_entry
from .frames import write_frame
from .interrupt import MonitoringInterrupter
from .outcome import Outcome, run_guarded

MESSAGE = struct.Struct("<q")  # run id to interrupt; 0 = stop listening


class _Guest:
    def __init__(self, out_fd: int, rfd: int, preload: str) -> None:
        self.out_fd = out_fd
        self.rfd = rfd
        self.interrupter = MonitoringInterrupter()
        self.ctx: TaskContext | None = None
        self.fn: Any = None
        self._numpy: bool | None = None
        if preload:
            try:  # warm the engine for whichever task comes; a failure shows on first use
                resolve_loader(preload)
            except Exception:  # noqa: BLE001, S110 - reported by the task's own model load
                pass
        # started last so a failed boot leaves no thread that would block destroy()
        self.listener = threading.Thread(target=self._listen, name="walle-vm-interrupts")
        self.listener.start()

    def load_task(self, config: dict[str, Any]) -> None:
        sys.path[:] = [config["root"], *config["sys_path"]]
        module_name = config["entry"].partition(":")[0]
        fn = resolve_entry(importlib.import_module(module_name), config["entry"])
        self.ctx, self.fn = TaskContext(**config["context"]), fn

    def numpy_imports(self) -> bool:
        """Whether numpy loads in this interpreter (tried once, on the first run): tasks then
        get numpy arrays as in thread mode, else memoryviews.  numpy 2.x refuses to load in
        sub-interpreters, so today this is False; the try costs a few ms, once."""
        if self._numpy is None:
            try:
                import numpy  # noqa: F401

                self._numpy = True
            except Exception:  # noqa: BLE001 - ImportError, or numpy's own refusal
                self._numpy = False
        return self._numpy

    def _listen(self) -> None:
        while True:
            data = os.read(self.rfd, MESSAGE.size)
            run_id = MESSAGE.unpack(data)[0] if len(data) == MESSAGE.size else 0
            if run_id == 0:
                return
            self.interrupter.interrupt(run_id)

    def send(self, outcome: Outcome) -> None:
        try:
            data = codec.dumps(outcome.as_tuple(), guest=True)
        except Exception as exc:  # noqa: BLE001 - unpicklable outputs become a task error
            data = codec.dumps(
                Outcome(
                    "error",
                    exc_type="walle.vm.OutputError",
                    message=f"task outputs cannot be sent back to the host: {exc}",
                ).as_tuple(),
                guest=True,
            )
        write_frame(self.out_fd, data)

    def close(self) -> None:
        self.listener.join()
        self.interrupter.close()


_guest: _Guest | None = None


def boot(out_fd: int, rfd: int, path: bytes, preload: str) -> None:
    """Prepare this interpreter for a task not known yet; reports success or the error.

    ``out_fd`` is the result pipe's write end, ``rfd`` the interrupt pipe's read end,
    ``path`` the encoded ``sys.path`` list, ``preload`` the model loader spec (or "").
    """
    global _guest
    try:
        sys.path[:] = codec.loads(path, use_numpy=False)
        _guest = _Guest(out_fd, rfd, preload)
    except BaseException as exc:  # noqa: BLE001 - report, the host decides
        write_frame(out_fd, codec.dumps(Outcome.from_exception(exc).as_tuple(), guest=True))
        return
    _guest.send(Outcome("ok"))


def setup(config: bytes) -> None:
    """Build the task context and import the entry; reports success or the traceback."""
    guest = _guest
    assert guest is not None, "boot() was not called"
    try:
        guest.load_task(codec.loads(config, use_numpy=False))
    except BaseException as exc:  # noqa: BLE001 - the task's import-time failure
        guest.send(Outcome.from_exception(exc))
        return
    guest.send(Outcome("ok"))


def run(run_id: int, payload: bytes) -> None:
    """Run the entry once on the calling thread and send the outcome to the host."""
    guest = _guest
    assert guest is not None and guest.fn is not None, "setup() was not called"

    def call() -> Any:
        guest.interrupter.begin(run_id)
        return guest.fn(guest.ctx, codec.loads(payload, use_numpy=guest.numpy_imports))

    start = time.thread_time()
    with StreamCapture() as out:
        outcome = run_guarded(call, guest.interrupter.disarm)
    guest.send(outcome.accounted(time.thread_time() - start, None, out.out.getvalue(), out.err.getvalue()))


def shutdown() -> None:
    """Stop the listener (the host has written the stop message) and drop the task."""
    global _guest
    if _guest is not None:
        _guest.close()
        _guest = None
