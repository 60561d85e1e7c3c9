"""The task VM as a :class:`concurrent.futures.Executor` (as ``InterpreterPoolExecutor``
is for functions): ``submit(task, inputs)``, ``map(task, inputs_iterable)``, and
``shutdown(wait, cancel_futures=)`` with the standard meaning: waiting runs still run
unless cancelled, and no run is interrupted.  Each future carries what its run printed
(``future.stdout``, ``future.stderr``).

    >>> with TaskExecutor(workers=2, mode="process") as pool:
    ...     name = pool.load("bundles/classify")
    ...     labels = list(pool.map(name, ({"image": im} for im in images)))
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Executor, Future
from concurrent.futures import wait as wait_for
from typing import Any

from .bundle import Bundle
from .runner import Runner, TaskFuture


class TaskExecutor(Executor):
    """An Executor whose "functions" are loaded tasks of a :class:`Runner`.

    Give a ``runner`` to share one (it is not closed on shutdown), or the Runner's
    keyword arguments to own one.
    """

    def __init__(self, runner: Runner | None = None, **runner_options: Any) -> None:
        if runner is not None and runner_options:
            raise TypeError("pass either a runner or Runner options, not both")
        self.runner = runner if runner is not None else Runner(**runner_options)
        self._owns_runner = runner is None
        self._lock = threading.Lock()
        self._futures: set[Future] = set()
        self._shutdown = False

    def load(self, bundle: Bundle | str | os.PathLike[str]) -> str:
        """Load a bundle into the runner; returns the task name to submit."""
        return self.runner.load(bundle)

    def submit(self, task: str, inputs: dict[str, Any] | None = None, /) -> TaskFuture:  # type: ignore[override]
        """Queue one run of ``task``; see :meth:`Runner.submit`."""
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new runs after shutdown")
            future = self.runner.submit(task, inputs)
            self._futures.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future) -> None:
        with self._lock:
            self._futures.discard(future)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Take no more runs; with ``cancel_futures`` cancel those still waiting; with
        ``wait`` block until the others finished (an owned runner is then closed)."""
        with self._lock:
            self._shutdown = True
            pending = list(self._futures)
        if cancel_futures:
            for future in pending:
                Future.cancel(future)  # only waiting runs; a running one is left to finish
        if wait:
            wait_for(pending)
            if self._owns_runner:
                self.runner.close()
        elif self._owns_runner:
            threading.Thread(target=self._close_when_done, args=(pending,), daemon=True).start()

    def _close_when_done(self, pending: list[Future]) -> None:
        wait_for(pending)
        self.runner.close()
