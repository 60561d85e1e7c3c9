"""Guest side of interpreter mode: this module is imported *inside* each sub-interpreter.

The host (:mod:`walle.vm.slots`) drives it with three short scripts: ``setup`` once,
``run`` per task run, ``shutdown`` before destroying the interpreter.  Results go back
as :mod:`walle.vm.codec` bytes in a frame on a result pipe.  Interrupt requests
arrive as 8-byte run ids on a pipe read by a listener thread that lives in this
interpreter, because only code inside the interpreter can arm its ``sys.monitoring``.
It must stay importable without numpy and without ctypes (neither loads here on 3.12).
"""

from __future__ import annotations

import importlib
import os
import pickle
import struct
import sys
import threading
from typing import Any

from . import codec
from .context import TaskContext
from .frames import write_frame
from .interrupt import MonitoringInterrupter
from .outcome import Outcome, run_guarded

MESSAGE = struct.Struct("<q")  # run id to interrupt; 0 = stop listening


class _Guest:
    def __init__(self, config: dict[str, Any], out_fd: int, rfd: int) -> None:
        self.out_fd = out_fd
        self.rfd = rfd
        self.interrupter = MonitoringInterrupter()
        sys.path[:] = [config["root"], *config["sys_path"]]
        self.ctx = TaskContext(**config["context"])
        module_name, _, func = config["entry"].partition(":")
        self.fn = getattr(importlib.import_module(module_name), func, None)
        if not callable(self.fn):
            raise TypeError(f"entry {config['entry']!r}: module has no function {func!r}")
        # started last so a failed setup leaves no thread that would block destroy()
        self.listener = threading.Thread(target=self._listen, name="walle-vm-interrupts")
        self.listener.start()

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


def setup(config: bytes, out_fd: int, rfd: int) -> None:
    """Build the task context and import the entry; reports success or the traceback.

    ``out_fd`` is the result pipe's write end, ``rfd`` the interrupt pipe's read end.
    """
    global _guest
    try:
        _guest = _Guest(pickle.loads(config), out_fd, rfd)
    except BaseException as exc:  # noqa: BLE001 - report, the host decides
        write_frame(out_fd, codec.dumps(Outcome.from_exception(exc).as_tuple(), guest=True))
        return
    _guest.send(Outcome("ok"))


def run(run_id: int, payload: bytes) -> None:
    """Run the entry once on the calling thread and send the outcome to the host."""
    guest = _guest
    assert guest is not None, "setup() was not called"

    def call() -> Any:
        guest.interrupter.begin(run_id)
        return guest.fn(guest.ctx, codec.loads(payload, use_numpy=False))

    guest.send(run_guarded(call, guest.interrupter.disarm))


def shutdown() -> None:
    """Stop the listener (the host has written the stop message) and drop the task."""
    global _guest
    if _guest is not None:
        _guest.close()
        _guest = None
