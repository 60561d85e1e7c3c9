"""Hand-off of fired triggers to tasks, off the ingest thread.

A sink is either an object with ``submit(task_name, inputs) -> concurrent.futures.Future``
(the ``walle.vm`` runner: ``Runner.submit(name, inputs)``) or any callable
``(task_name, inputs) -> result``, which is then run on a small thread pool.  Ingestion only
appends to a queue; a dispatcher thread submits, bounded by ``max_inflight`` so a slow sink
delays tasks, never events.

Backpressure: when the VM's queue for the task is full (``QueueFull``) the dispatcher waits
and submits the same task again; nothing is dropped for lack of room.  The pipeline bounds
the tasks it lets pile up (``Pipeline(max_pending_tasks=...)``), so ingestion slows down
instead.  A task that did not complete because the pipeline or the VM shut down (a cancelled
future, ``RunnerClosed``, ``TaskCancelled``) is not an outcome: it stays pending in the
store and runs again at the next start.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from typing import Any, Protocol, runtime_checkable

from walle.vm import QueueFull, RunnerClosed, TaskCancelled

from .errors import PipelineError

_RETRY_MIN, _RETRY_MAX = 0.002, 0.1     # seconds between submits while the VM queue is full
_SHUT_DOWN = (CancelledError, RunnerClosed, TaskCancelled)


@runtime_checkable
class Submitter(Protocol):
    """What the task VM runner offers."""

    def submit(self, task_name: str, inputs: dict[str, Any]) -> Future: ...


TaskSink = Submitter | Callable[[str, dict[str, Any]], Any]
DoneFn = Callable[[int, str, str, Any, BaseException | None], None]


class Dispatcher:
    """Submits queued tasks to the sink and reports each outcome to ``on_done``:
    ``on_done(task_id, key, task_name, result, error)``.  ``materialize`` completes the
    inputs in the dispatcher thread (reads the window's events from the store); ``on_idle``
    runs when no task arrived for 0.1 s (its exceptions are counted in ``idle_errors``)."""

    def __init__(self, sink: TaskSink, on_done: DoneFn,
                 materialize: Callable[[dict[str, Any]], dict[str, Any]] = lambda x: x,
                 workers: int = 2, max_inflight: int = 64,
                 on_idle: Callable[[], None] = lambda: None) -> None:
        if not isinstance(sink, Submitter) and not callable(sink):
            raise PipelineError(f"sink must be callable or have submit(), got "
                                f"{type(sink).__name__}")
        self._sink = sink
        self._on_done = on_done
        self._materialize = materialize
        self._on_idle = on_idle
        self._pool = None if isinstance(sink, Submitter) else ThreadPoolExecutor(
            workers, thread_name_prefix="walle-task")
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._slots = threading.BoundedSemaphore(max_inflight)
        self._idle = threading.Condition()
        self.outstanding = 0     # tasks queued or running (not yet reported)
        self.deferred = 0        # tasks left pending because of a shutdown
        self.queue_full = 0      # submits refused by a full VM queue (and retried)
        self.idle_errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="walle-dispatch", daemon=True)
        self._thread.start()

    def put(self, task_id: int, key: str, task_name: str, inputs: dict[str, Any]) -> None:
        """Queue a task (never blocks)."""
        with self._idle:
            self.outstanding += 1
        self._queue.put((task_id, key, task_name, inputs))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                try:
                    self._on_idle()
                except Exception:  # noqa: BLE001 - e.g. a store error: retried at the next idle
                    self.idle_errors += 1
                continue
            while not self._slots.acquire(timeout=0.1):
                if self._stop.is_set():
                    return
            task_id, key, name, inputs = item
            try:
                fut = self._submit(name, self._materialize(inputs))
            except Exception as exc:  # noqa: BLE001 - a sink that refuses the task: report, keep going
                fut = Future()
                fut.set_exception(exc)
            if fut is None:           # shutting down: the task stays pending in the store
                self._release(deferred=True)
                return
            fut.add_done_callback(lambda f, i=task_id, k=key, n=name: self._done(i, k, n, f))

    def _submit(self, name: str, inputs: dict[str, Any]) -> Future | None:
        """Submit, waiting while the VM's queue is full; None if stopped meanwhile."""
        if self._pool is not None:
            return self._pool.submit(self._sink, name, inputs)  # type: ignore[arg-type]
        delay = _RETRY_MIN
        while True:
            try:
                return self._sink.submit(name, inputs)  # type: ignore[union-attr]
            except QueueFull:
                self.queue_full += 1
            except RunnerClosed:
                return None
            if self._stop.wait(delay):
                return None
            delay = min(2 * delay, _RETRY_MAX)

    def _done(self, task_id: int, key: str, name: str, fut: Future) -> None:
        if fut.cancelled() or isinstance(fut.exception(), _SHUT_DOWN):
            self._release(deferred=True)    # not an outcome: it runs again at the next start
            return
        try:
            err = fut.exception()
            self._on_done(task_id, key, name, None if err else fut.result(), err)
        finally:
            self._release()

    def _release(self, deferred: bool = False) -> None:
        if deferred:
            self.deferred += 1
        self._slots.release()
        with self._idle:
            self.outstanding -= 1
            self._idle.notify_all()

    def wait_change(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) until a task completes."""
        with self._idle:
            self._idle.wait(timeout)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queued task has completed; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self.outstanding == 0, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Stop submitting; running tasks finish (their results are still recorded), queued
        ones stay pending in the store for the next start."""
        self._stop.set()
        self._thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
