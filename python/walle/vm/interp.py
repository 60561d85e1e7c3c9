"""Host side of one sub-interpreter running :mod:`walle.vm.guest`.

Life of a :class:`GuestInterpreter`: *boot* (create the interpreter, import the guest
harness and the runner's model loader -- the expensive, task-independent part), then
*setup* (import one task), then any number of *runs*, then *close*.  Boot starts in the
constructor and proceeds on the interpreter's own thread, so :mod:`walle.vm.pool` can
boot interpreters ahead of need while the caller goes on.

Results come back as :mod:`walle.vm.codec` frames on a pipe (see :mod:`walle.vm.frames`);
interrupts go the other way on a second pipe, read by a listener thread in the guest.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from . import codec, frames, subinterp
from .errors import TaskError, VMError
from .guest import MESSAGE
from .outcome import Outcome

_BOOT = "import walle.vm.guest as _g\n_g.boot(OUT, RFD, PATH, PRELOAD)"
_SETUP = "import walle.vm.guest as _g\n_g.setup(CONFIG)"
_RUN = "import walle.vm.guest as _g\n_g.run(RUN_ID, PAYLOAD)"
_SHUTDOWN = "import walle.vm.guest as _g\n_g.shutdown()"


class _OwnThread:
    """Runs calls, in order, on one dedicated thread.

    A sub-interpreter is created, run and destroyed on the same OS thread: on 3.12,
    destroying from another thread an interpreter that imported ``threading`` hangs in
    ``threading._shutdown`` (it waits for the creating thread's state).
    """

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[tuple[Future, Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while (item := self._calls.get()) is not None:
            future, fn, args = item
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - re-raised on the calling thread
                future.set_exception(exc)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        self._calls.put((future, fn, args))
        return future

    def stop(self) -> None:
        self._calls.put(None)


class GuestInterpreter:
    """One isolated sub-interpreter (own GIL) on its own thread.

    ``sys_path`` becomes the guest's ``sys.path``; ``preload`` is the model loader spec
    (``"module:function"``) resolved during boot so tasks find the engine imported.
    One owner at a time: the pool until it hands the interpreter out, then a slot.
    """

    def __init__(self, sys_path: list[str], preload: str = "", name: str = "walle-vm-interp") -> None:
        self._irfd, self._iwfd = os.pipe()  # interrupts: host -> guest listener
        self._rrfd, self._rwfd = os.pipe()  # results: guest -> host
        os.set_blocking(self._iwfd, False)  # interrupting must never block the monitor
        self._thread = _OwnThread(name)
        self._id: Any = None
        self._lock = threading.Lock()  # ready() may race between a pool waiter and a taker
        self._booted: bool | None = None  # None: not collected yet
        self._boot_error: BaseException | None = None
        self._closed = False
        self._boot = self._thread.submit(
            self._then_end, self._create_and_boot, codec.dumps(sys_path), preload
        )

    # --------------------------------------------------------------- on the own thread

    def _then_end(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        finally:  # the end frame tells the reader the guest script is over, even if it crashed
            frames.write_frame(self._rwfd, b"")

    def _create_and_boot(self, path: bytes, preload: str) -> None:
        self._id = subinterp.create()
        shared = {"OUT": self._rwfd, "RFD": self._irfd, "PATH": path, "PRELOAD": preload}
        subinterp.run(self._id, _BOOT, shared)

    def _destroy(self) -> None:
        if self._id is None:
            return
        try:
            os.write(self._iwfd, MESSAGE.pack(0))  # stops the guest's listener thread
            if self._booted:
                subinterp.run(self._id, _SHUTDOWN)
        finally:
            subinterp.destroy(self._id)
            self._id = None

    # --------------------------------------------------------------- host side

    def _collect(self, done: Future) -> Outcome:
        """Read the outcome the guest sends for the script behind ``done``."""
        data = frames.read_until_end(self._rrfd)
        done.result()  # re-raises GuestCrashed if the guest script itself failed
        if data is None:
            raise subinterp.GuestCrashed("the guest sent no result")
        return Outcome(*codec.loads(data))

    def _converse(self, script: str, shared: dict[str, Any]) -> Outcome:
        return self._collect(self._thread.submit(self._then_end, subinterp.run, self._id, script, shared))

    def ready(self) -> None:
        """Wait until boot has finished; raise VMError if it failed.  Idempotent."""
        with self._lock:
            if self._booted is None:
                try:
                    out = self._collect(self._boot)
                    if out.kind != "ok":
                        raise VMError(f"cannot boot a sub-interpreter: {out.exc_type}: {out.message}")
                    self._booted = True
                except BaseException as exc:  # noqa: BLE001 - kept for every later caller
                    self._booted, self._boot_error = False, exc
            if self._boot_error is not None:
                raise self._boot_error

    def wait_booted(self, timeout: float | None = None) -> bool:
        """Wait (without collecting the result) until the boot script has ended."""
        try:
            self._boot.exception(timeout)
        except TimeoutError:
            return False
        return True

    def setup(self, config: bytes, task: str) -> None:
        """Import task ``task`` (its :func:`~walle.vm.context.context_config`, encoded)."""
        self.ready()
        out = self._converse(_SETUP, {"CONFIG": config})
        if out.kind != "ok":
            raise TaskError(task, out.exc_type, out.message, out.traceback)

    def run(self, run_id: int, payload: bytes) -> Outcome:
        """One run of the task with codec-encoded inputs; blocks until it ends."""
        return self._converse(_RUN, {"RUN_ID": run_id, "PAYLOAD": payload})

    def interrupt(self, run_id: int) -> None:
        """Ask run ``run_id`` to stop (any thread, never blocks)."""
        try:
            os.write(self._iwfd, MESSAGE.pack(run_id))
        except OSError:
            pass  # listener gone or pipe full of earlier requests: nothing more to do

    def close(self) -> None:
        """Destroy the interpreter (waiting for boot first) and release its thread and pipes."""
        if self._closed:
            return
        self._closed = True
        try:
            try:
                self.ready()  # drains the boot frames, so a blocked boot cannot stall destroy
            except BaseException:  # noqa: BLE001, S110 - closing anyway
                pass
            self._thread.submit(self._destroy).result()
        finally:
            self._thread.stop()
            for fd in (self._irfd, self._iwfd, self._rrfd, self._rwfd):
                os.close(fd)
