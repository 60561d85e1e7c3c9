"""Stopping a task's Python code from another thread.

Two mechanisms, because neither works everywhere:

* :class:`AsyncExcInterrupter` (thread mode) uses ``PyThreadState_SetAsyncExc`` through
  ctypes.  It only reaches threads of the calling interpreter, and ``_ctypes`` does not
  load in 3.12 sub-interpreters, so it cannot serve interpreter mode.
* :class:`MonitoringInterrupter` (interpreter mode, 3.12+) lives inside the sub-interpreter
  and uses ``sys.monitoring`` (PEP 669), which is per-interpreter: arming it enables LINE,
  JUMP and PY_START events whose callback raises :class:`TaskInterrupt` in the task thread.
  Enabling events re-instruments code that is already running, so even ``while True:
  pass`` stops at its next backward jump.  Events are off (zero cost) until armed.

Both interrupt Python code only: a task blocked in C (``time.sleep``, an engine call) sees
the interrupt when it returns to Python.  Both are armed/disarmed under a lock together
with the run id, so an interrupt meant for run N can never hit run N+1.
"""

from __future__ import annotations

import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs every sub-interpreter ~0.6 MiB
    from typing import Any

from .outcome import TaskInterrupt

_TOOL_ID = 4  # sys.monitoring ids 0-2 and 5 are claimed by debuggers, coverage, profilers, optimizers


class AsyncExcInterrupter:
    """Thread-mode interrupter for the task currently running on one worker thread."""

    def __init__(self) -> None:
        import ctypes

        # two prototypes of the same C function: one passes an exception type, the other
        # NULL (which clears a pending one; passing None would raise None instead)
        name = ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
        self._set_async_exc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.py_object)(name)
        self._clear_async_exc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)(name)
        self._lock = threading.Lock()
        self._run_id: int | None = None
        self._ident = 0

    def begin(self, run_id: int) -> None:
        """Called on the task's thread just before the task starts."""
        with self._lock:
            self._run_id, self._ident = run_id, threading.get_ident()

    def interrupt(self, run_id: int) -> None:
        """Ask run ``run_id`` to stop (no-op if it already ended).  Any thread."""
        with self._lock:
            if self._run_id == run_id:
                self._set_async_exc(self._ident, TaskInterrupt)

    def disarm(self) -> None:
        """Called on the task's thread after the task ended; clears a pending interrupt."""
        with self._lock:
            if self._run_id is not None:
                self._run_id = None
                self._clear_async_exc(self._ident, None)


class MonitoringInterrupter:
    """Interpreter-mode interrupter; one per sub-interpreter, used from inside it."""

    def __init__(self) -> None:
        mon = sys.monitoring  # type: ignore[attr-defined]
        self._mon = mon
        self._events = mon.events.LINE | mon.events.JUMP | mon.events.PY_START
        self._lock = threading.Lock()
        self._run_id: int | None = None
        self._ident = 0
        self._armed = False
        mon.use_tool_id(_TOOL_ID, "walle.vm")
        for event in (mon.events.LINE, mon.events.JUMP, mon.events.PY_START):
            mon.register_callback(_TOOL_ID, event, self._callback)

    def _callback(self, *_: Any) -> None:
        if self._armed and threading.get_ident() == self._ident:
            # fire once: the handler's own lines must not be interrupted again
            self._armed = False
            self._mon.set_events(_TOOL_ID, 0)
            raise TaskInterrupt

    def begin(self, run_id: int) -> None:
        with self._lock:
            self._run_id, self._ident, self._armed = run_id, threading.get_ident(), False

    def interrupt(self, run_id: int) -> None:
        with self._lock:
            if self._run_id == run_id and not self._armed:
                self._armed = True
                self._mon.set_events(_TOOL_ID, self._events)

    def disarm(self) -> None:
        with self._lock:
            self._run_id, self._armed = None, False
            self._mon.set_events(_TOOL_ID, 0)

    def close(self) -> None:
        self.disarm()
        self._mon.free_tool_id(_TOOL_ID)
