"""A slot is one instance of a loaded task that executes one run at a time.

A task has up to ``limits.concurrency`` slots; each slot owns its :class:`TaskContext`
(so its models).  ``ThreadSlot`` runs in the host interpreter inside the task's private
namespace; ``InterpreterSlot`` owns a sub-interpreter and drives :mod:`walle.vm.guest`.
Either is driven by whichever runner worker thread picked the run.
"""

from __future__ import annotations

import os
import pickle
import queue
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol

from . import codec, frames, subinterp
from .context import TaskContext
from .errors import TaskError
from .guest import MESSAGE
from .interrupt import AsyncExcInterrupter
from .isolation import TaskNamespace
from .outcome import Outcome, run_guarded


class Slot(Protocol):
    def run(self, run_id: int, inputs: dict[str, Any]) -> Outcome: ...
    def interrupt(self, run_id: int) -> None: ...
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

        return run_guarded(call, self._interrupter.disarm)

    def interrupt(self, run_id: int) -> None:
        self._interrupter.interrupt(run_id)

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


_SETUP = "import walle.vm.guest as _g\n_g.setup(CONFIG, OUT, RFD)"
_RUN = "import walle.vm.guest as _g\n_g.run(RUN_ID, PAYLOAD)"
_SHUTDOWN = "import walle.vm.guest as _g\n_g.shutdown()"


class _OwnThread:
    """Runs calls on one dedicated thread.

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


class InterpreterSlot:
    """Owns one isolated sub-interpreter (own GIL) living on its own thread, with the task
    imported in it.  A runner worker hands a run to that thread and reads the result pipe
    while the guest runs; the interpreter's thread writes the end frame when it returns.
    """

    def __init__(self, config: bytes, task: str) -> None:
        self._task = task
        self._irfd, self._iwfd = os.pipe()  # interrupts: host -> guest listener
        self._rrfd, self._rwfd = os.pipe()  # results: guest -> host
        os.set_blocking(self._iwfd, False)  # interrupting must never block the monitor
        self._thread = _OwnThread(f"walle-vm-interp-{task}")
        self._id: Any = None
        try:
            out = self._converse(self._setup, config)
            if out.kind != "ok":
                raise TaskError(task, out.exc_type, out.message, out.traceback)
        except BaseException:
            self._shutdown(guest_ready=False)
            raise

    def _converse(self, fn: Callable[..., None], *args: Any) -> Outcome:
        """Run ``fn`` on the interpreter thread and collect the outcome it sends."""
        done = self._thread.submit(self._then_end, fn, *args)
        data = frames.read_until_end(self._rrfd)
        done.result()  # re-raises GuestCrashed if the guest script itself failed
        if data is None:
            raise subinterp.GuestCrashed("the guest sent no result")
        return Outcome(*codec.loads(data))

    def _then_end(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        finally:
            frames.write_frame(self._rwfd, b"")

    def _setup(self, config: bytes) -> None:
        self._id = subinterp.create()
        subinterp.run(self._id, _SETUP, {"CONFIG": config, "OUT": self._rwfd, "RFD": self._irfd})

    def _run(self, run_id: int, payload: bytes) -> None:
        subinterp.run(self._id, _RUN, {"RUN_ID": run_id, "PAYLOAD": payload})

    def run(self, run_id: int, inputs: dict[str, Any]) -> Outcome:
        return self._converse(self._run, run_id, codec.dumps(inputs))

    def interrupt(self, run_id: int) -> None:
        try:
            os.write(self._iwfd, MESSAGE.pack(run_id))
        except OSError:
            pass  # listener gone or pipe full of earlier requests: nothing more to do

    def _destroy(self, guest_ready: bool) -> None:
        if self._id is None:
            return
        try:
            os.write(self._iwfd, MESSAGE.pack(0))  # stops the guest's listener thread
            if guest_ready:
                subinterp.run(self._id, _SHUTDOWN)
        finally:
            subinterp.destroy(self._id)
            self._id = None

    def _shutdown(self, *, guest_ready: bool) -> None:
        try:
            self._thread.submit(self._destroy, guest_ready).result()
        finally:
            self._thread.stop()
            for fd in (self._irfd, self._iwfd, self._rrfd, self._rwfd):
                os.close(fd)

    def close(self) -> None:
        self._shutdown(guest_ready=True)


def interpreter_factory(context: dict[str, Any], entry: str) -> Callable[[], InterpreterSlot]:
    """Slot factory for interpreter mode; the config crosses into the guest as bytes."""
    if not isinstance(context["loader"], str):
        raise TypeError("in mode='interpreter' the model loader must be a 'module:function' string")
    config = pickle.dumps(
        {
            "context": context,
            "entry": entry,
            "root": context["root"],
            "sys_path": [p for p in sys.path if isinstance(p, str)],
        }
    )
    return lambda: InterpreterSlot(config, context["name"])
