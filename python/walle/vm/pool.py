"""Sub-interpreters booted ahead of need, so that loading a task only imports the task.

Booting an interpreter (create it, import the guest harness and the engine) costs tens of
milliseconds of CPU and is the same for every task; importing a task's own modules is
usually about a millisecond.  The pool keeps ``size`` interpreters booted or booting.
:meth:`InterpreterPool.take` hands out the oldest; a filler thread boots a replacement
soon after, in the background, so nobody waits for a boot unless the pool is drained
faster than it refills (then ``take`` boots one itself).  Interpreters are never reused:
a slot's interpreter is destroyed with the slot, so no task sees another's leftovers.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque

from .interp import GuestInterpreter


class InterpreterPool:
    """Keeps ``size`` booted :class:`GuestInterpreter` objects ready (``size`` may be 0).

    A filler thread boots replacements one at a time, ``refill_delay`` seconds after the
    last :meth:`take` (at once if the pool is empty), so that a boot does not compete for
    the CPU with the task being started: its import, model load and first run.
    """

    def __init__(self, size: int, preload: str = "", refill_delay: float = 0.1) -> None:
        if size < 0:
            raise ValueError(f"pool size must be >= 0, got {size}")
        self.size = size
        self._preload = preload
        self._delay = refill_delay
        self._cond = threading.Condition()
        self._queue: deque[GuestInterpreter] = deque()
        self._booting: GuestInterpreter | None = None
        self._last_take = float("-inf")
        self._closed = False
        self._filler = threading.Thread(target=self._fill_loop, name="walle-vm-pool", daemon=True)
        if size:
            self._filler.start()

    def _new(self) -> GuestInterpreter:
        # the host's current sys.path, so modules importable here are importable there
        return GuestInterpreter([p for p in sys.path if isinstance(p, str)], self._preload)

    def _fill_loop(self) -> None:
        with self._cond:
            while not self._closed:
                if len(self._queue) >= self.size:
                    self._cond.wait()
                    continue
                quiet = self._last_take + self._delay - time.monotonic()
                if self._queue and quiet > 0:
                    self._cond.wait(quiet)
                    continue
                interp = self._booting = self._new()
                self._queue.append(interp)
                self._cond.release()
                try:
                    interp.wait_booted()  # one boot at a time: at most one core busy with it
                finally:
                    self._cond.acquire()
                self._booting = None
                self._cond.notify_all()

    def take(self) -> GuestInterpreter:
        """A booted interpreter (one booted now if the pool is empty or of size 0)."""
        with self._cond:
            interp = self._queue.popleft() if self._queue else None
            self._last_take = time.monotonic()
            self._cond.notify_all()
        if interp is None:
            interp = self._new()
        try:
            interp.ready()
        except BaseException:
            interp.close()
            raise
        return interp

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the pool is full and every pooled interpreter has booted; False if
        ``timeout`` passed first.  A failed boot counts as finished (``take`` reports it)."""
        with self._cond:
            full = self._cond.wait_for(
                lambda: self._closed or (len(self._queue) >= self.size and self._booting is None), timeout
            )
            pending = list(self._queue)
        return full and all(interp.wait_booted(0) for interp in pending)

    def close(self) -> None:
        """Destroy the interpreters not handed out (waits for boots in progress)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._filler.is_alive():
            self._filler.join()
        with self._cond:
            idle, self._queue = list(self._queue), deque()
        for interp in idle:
            interp.close()
