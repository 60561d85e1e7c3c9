"""Hand-off of fired triggers to tasks, off the ingest thread.

A sink is either an object with ``submit(task_name, inputs) -> concurrent.futures.Future``
(the ``walle.vm`` runner: ``Runner.submit(name, inputs)``) or any callable
``(task_name, inputs) -> result``, which is then run on a small thread pool.  Ingestion only
appends to a queue; a dispatcher thread submits, bounded by ``max_inflight`` so a slow sink
delays tasks, never events.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol, runtime_checkable

from .errors import PipelineError


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
    runs when no task arrived for 0.1 s."""

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
        self._outstanding = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="walle-dispatch", daemon=True)
        self._thread.start()

    def put(self, task_id: int, key: str, task_name: str, inputs: dict[str, Any]) -> None:
        """Queue a task (never blocks)."""
        with self._idle:
            self._outstanding += 1
        self._queue.put((task_id, key, task_name, inputs))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                self._on_idle()
                continue
            while not self._slots.acquire(timeout=0.1):
                if self._stop.is_set():
                    return
            task_id, key, name, inputs = item
            try:
                inputs = self._materialize(inputs)
                if self._pool is None:
                    fut = self._sink.submit(name, inputs)  # type: ignore[union-attr]
                else:
                    fut = self._pool.submit(self._sink, name, inputs)  # type: ignore[arg-type]
            except Exception as exc:  # noqa: BLE001 - a sink that refuses the task: report, keep going
                fut = Future()
                fut.set_exception(exc)
            fut.add_done_callback(lambda f, i=task_id, k=key, n=name: self._done(i, k, n, f))

    def _done(self, task_id: int, key: str, name: str, fut: Future) -> None:
        try:
            err = fut.exception()
            self._on_done(task_id, key, name, None if err else fut.result(), err)
        finally:
            self._slots.release()
            with self._idle:
                self._outstanding -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queued task has completed; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._outstanding == 0, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Stop submitting; running tasks finish (their results are still recorded)."""
        self._stop.set()
        self._thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
