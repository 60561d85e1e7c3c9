"""The task runner: loads bundles and runs tasks on a fixed pool of worker threads.

Three isolation modes share this scheduler and differ only in their slots (see
:mod:`walle.vm.slots` and :mod:`walle.vm.procslot`): ``thread`` (a private module
namespace in this interpreter), ``interpreter`` (a sub-interpreter per task instance) and
``process`` (a worker process forked from a warm template, for untrusted or crashy tasks:
a dead worker fails only its run, and limits are enforced by the kernel).

Scheduling: each task has a bounded FIFO of waiting runs and up to ``limits.concurrency``
slots (task instances).  A worker takes the next run of the next task, round-robin, that
has a free slot, so one busy task cannot starve the others.  A monitor thread enforces
time limits: it interrupts a run at its deadline (re-sending every 0.1 s in case the task
swallows the interrupt) and, if the run is still going ``grace`` seconds later, stops it
for good: the process tier kills the worker; in-process modes cannot, so the run is
abandoned (it fails with TaskTimeout, its slot and thread are left to it, and a fresh
worker thread replaces the lost one).  Abandoned runs are counted; at ``max_abandoned``
still executing, a task that owns one takes no more runs (TaskQuarantined) and no more
replacement threads are made.  At exit, sub-interpreters still running an abandoned run
cannot be destroyed, so the host then ends with ``os._exit`` after the other exit
handlers ran, instead of CPython's "remaining subinterpreters" abort.
"""

from __future__ import annotations

import atexit
import itertools
import os
import sys
import threading
import time
import warnings
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from . import codec, exitcode, subinterp
from .accounting import TaskStats
from .bundle import Bundle, load_bundle
from .context import DEFAULT_LOADER, ModelLoader, context_config
from .errors import (
    InputError,
    ModeUnavailable,
    QueueFull,
    RunnerClosed,
    TaskCancelled,
    TaskCrashed,
    TaskError,
    TaskLimitExceeded,
    TaskQuarantined,
    TaskTimeout,
    UnknownTask,
    VMError,
)
from .forkserver import ForkServer
from .isolation import TaskNamespace
from .outcome import Outcome
from .pool import InterpreterPool
from .procslot import process_factory
from .slots import Slot, interpreter_factory, thread_factory

MODES = ("thread", "interpreter", "process")
_RESEND = 0.1  # seconds between repeated interrupts of a run that has not stopped
_ZOMBIE_RESEND = 0.5  # abandoned runs are still interrupted, less often, until they end


class TaskFuture(Future):
    """A Future for one run.  ``cancel()`` removes a waiting run; for a running one it asks
    the task to stop (the future then fails with TaskCancelled) and returns False.
    ``stdout`` and ``stderr`` hold what the run printed, once it has finished."""

    def __init__(self, task: str, canceller: Callable[[TaskFuture], None]) -> None:
        super().__init__()
        self.task = task
        self.stdout = ""
        self.stderr = ""
        self._canceller = canceller

    def cancel(self) -> bool:
        if super().cancel():
            return True
        self._canceller(self)
        return False


@dataclass(eq=False)
class _Job:
    run_id: int
    task: _Task
    inputs: Any  # the dict in thread mode, its codec bytes in the other modes
    future: TaskFuture
    slot: Slot | None = None
    deadline: float = float("inf")
    stop_reason: str | None = None  # "timeout", "cancel", "unload" or "close"
    next_interrupt: float = float("inf")
    give_up_at: float = float("inf")
    abandoned: bool = False
    killed: bool = False
    attempts: int = 0


@dataclass(eq=False)
class _Task:
    bundle: Bundle
    factory: Callable[[], Slot]
    namespace: TaskNamespace | None
    idle: list[Slot] = field(default_factory=list)
    slots: int = 0
    pending: deque[_Job] = field(default_factory=deque)
    running: set[_Job] = field(default_factory=set)
    closed: bool = False
    stats: TaskStats = field(default_factory=TaskStats)
    zombies: int = 0  # abandoned runs still executing

    @property
    def name(self) -> str:
        return self.bundle.name


_live_runners: weakref.WeakSet[Runner] = weakref.WeakSet()


@atexit.register
def _close_live_runners() -> None:
    # worker threads are daemons; stop sub-interpreters before the interpreter finalizes
    runners = list(_live_runners)
    for runner in runners:
        runner.close()
    if any(runner._stuck_interpreters() for runner in runners):
        _exit_without_finalizing()


def _exit_without_finalizing() -> None:
    """End the process now: a sub-interpreter still runs an abandoned run, and finalizing
    with it alive aborts ("PyInterpreterState_Delete: remaining subinterpreters").  The
    other exit handlers run first, and the exit code is the one Python would have used
    (see :mod:`walle.vm.exitcode`)."""
    atexit.unregister(_close_live_runners)
    atexit._run_exitfuncs()
    code = exitcode.exit_code()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001, S110 - closed or broken stream: nothing to flush
            pass
    os._exit(code)


class Runner:
    """Runs loaded tasks concurrently on ``workers`` threads.

    ``mode="thread"``: tasks share this interpreter, each in a private module namespace.
    ``mode="interpreter"`` (3.12+): each task instance lives in its own sub-interpreter
    with its own GIL, so Python code of different tasks runs in parallel.
    ``mode="process"``: each task instance lives in a worker process forked from a warm
    template that has the engine imported; a worker that dies fails its run with
    TaskCrashed (retried up to ``limits.max_retries`` times) and is replaced, and
    ``limits.memory_mb`` / ``limits.cpu_time`` are enforced by the kernel.
    ``model_loader`` loads ``[models]`` entries as ``loader(path, **options)``; outside
    thread mode it must be an importable ``"module:function"`` string.
    ``grace`` is how long a run may ignore an interrupt before it is killed (process) or
    abandoned (other modes); ``max_abandoned`` caps abandoned runs still executing.
    ``warm_interpreters`` (interpreter mode): how many sub-interpreters to keep booted
    ahead of need, with the model loader's module imported, so that loading a task only
    imports the task (see :mod:`walle.vm.pool`); 0 boots one per task load instead.
    """

    def __init__(
        self,
        workers: int | None = None,
        mode: str = "thread",
        *,
        model_loader: str | ModelLoader = DEFAULT_LOADER,
        grace: float = 2.0,
        warm_interpreters: int = 2,
        max_abandoned: int = 4,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode == "interpreter" and not subinterp.AVAILABLE:
            raise ModeUnavailable(subinterp.UNAVAILABLE_REASON)
        if mode != "thread" and not isinstance(model_loader, str):
            raise ValueError(f"in mode={mode!r} model_loader must be a 'module:function' string")
        if max_abandoned < 0:
            raise ValueError(f"max_abandoned must be >= 0, got {max_abandoned}")
        self.mode = mode
        self.workers = workers or os.cpu_count() or 1
        self._loader = model_loader
        self._grace = grace
        self._max_abandoned = max_abandoned
        self._cond = threading.Condition()
        self._tasks: dict[str, _Task] = {}
        self._reserved: set[str] = set()
        self._order: list[_Task] = []
        self._rr = 0
        self._running: set[_Job] = set()
        self._zombies: set[_Job] = set()  # abandoned runs whose code is still executing
        self._ids = itertools.count(1)
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._pool: InterpreterPool | None = None
        self._forkserver: ForkServer | None = None
        if mode == "interpreter":
            self._pool = InterpreterPool(warm_interpreters, preload=model_loader)  # type: ignore[arg-type]
        if mode == "process":
            self._forkserver = ForkServer(["numpy", "walle", str(model_loader)])
            self._forkserver.start()
        for _ in range(self.workers):
            self._spawn_worker()
        self._monitor = threading.Thread(target=self._monitor_loop, name="walle-vm-monitor", daemon=True)
        self._monitor.start()
        _live_runners.add(self)

    # ----------------------------------------------------------------- public API

    @property
    def tasks(self) -> list[str]:
        """Names of the loaded tasks."""
        with self._cond:
            return list(self._tasks)

    def bundle(self, name: str) -> Bundle:
        """The bundle a loaded task came from."""
        with self._cond:
            return self._task(name).bundle

    def wait_warm(self, timeout: float | None = None) -> bool:
        """Block until the pool of booted sub-interpreters is full (interpreter mode;
        thread mode has none).  False if ``timeout`` passed first.  For latency-sensitive
        loads and for measuring them."""
        return True if self._pool is None else self._pool.wait_ready(timeout)

    def load(self, bundle: Bundle | str | os.PathLike[str]) -> str:
        """Load a bundle (validating it if given a path) and return the task name.

        The entry module is imported now (in its own sub-interpreter in interpreter mode), so
        a task that fails at import raises TaskError here.  Models load on first use.
        """
        if not isinstance(bundle, Bundle):
            bundle = load_bundle(Path(bundle))
        name = bundle.name
        limits = bundle.manifest_info.limits
        unenforced = [key for key in ("memory_mb", "cpu_time") if getattr(limits, key) is not None]
        if unenforced and self.mode != "process":
            keys = ", ".join(f"limits.{key}" for key in unenforced)
            warnings.warn(
                f"task {name!r}: {keys} only apply in mode='process'; this runner (mode={self.mode!r}) "
                "does not enforce them",
                stacklevel=2,
            )
        with self._cond:
            self._check_open()
            if name in self._tasks or name in self._reserved:
                raise VMError(f"task {name!r} is already loaded; unload it first")
            self._reserved.add(name)
        try:
            context = context_config(bundle, self._loader)
            namespace = None
            if self.mode == "thread":
                namespace = TaskNamespace(bundle.root)
                factory = thread_factory(namespace, bundle.entry, context)
            elif self.mode == "interpreter":
                assert self._pool is not None
                factory = interpreter_factory(context, bundle.entry, self._pool)
            else:
                assert self._forkserver is not None
                limits = bundle.manifest_info.limits
                factory = process_factory(context, bundle.entry, self._forkserver, limits)
            try:
                first = factory()
            except BaseException:
                if namespace is not None:
                    namespace.close()
                raise
            task = _Task(bundle, factory, namespace, idle=[first], slots=1)
            with self._cond:
                if self._closed:
                    self._close_slot(first)
                    raise RunnerClosed("runner closed while loading")
                self._tasks[name] = task
                self._order.append(task)
                self._cond.notify_all()
        finally:
            with self._cond:
                self._reserved.discard(name)
        return name

    def unload(self, name: str) -> None:
        """Remove a task: waiting runs fail with RunnerClosed, running ones are interrupted,
        and its slots (sub-interpreters, models) are released as they become free."""
        with self._cond:
            task = self._task(name)
            del self._tasks[name]
            self._order.remove(task)
            task.closed = True
            dropped = list(task.pending)
            task.pending.clear()
            for job in task.running:
                self._request_stop(job, "unload")
            idle, task.idle = task.idle, []
        for job in dropped:
            self._resolve(job, Outcome("interrupted"), "unload")
        for slot in idle:
            self._close_slot(slot)
        if task.namespace is not None:
            task.namespace.close()

    def submit(self, name: str, inputs: dict[str, Any] | None = None) -> TaskFuture:
        """Queue a run of task ``name``; the future resolves to the entry's return value or
        fails with TaskError / TaskTimeout / TaskCancelled / RunnerClosed.

        Raises UnknownTask, QueueFull (``limits.queue_length`` runs already waiting),
        TaskQuarantined, InputError (an input cannot be copied to an interpreter or
        process) or RunnerClosed at once.
        """
        inputs = dict(inputs or {})
        payload = inputs if self.mode == "thread" else _encode_inputs(name, inputs)
        with self._cond:
            self._check_open()
            task = self._task(name)
            if len(task.pending) >= task.bundle.manifest_info.limits.queue_length:
                raise QueueFull(
                    f"task {name!r} already has {len(task.pending)} runs waiting "
                    f"(limits.queue_length = {task.bundle.manifest_info.limits.queue_length})"
                )
            if task.zombies and len(self._zombies) >= self._max_abandoned:
                raise TaskQuarantined(
                    f"task {name!r} takes no runs: the runner has {len(self._zombies)} abandoned runs "
                    f"still executing (max_abandoned = {self._max_abandoned}), {task.zombies} of them "
                    "this task's; mode='process' kills such runs instead"
                )
            future = TaskFuture(name, self._cancel)
            job = _Job(next(self._ids), task, payload, future)
            future._walle_job = job  # type: ignore[attr-defined]
            task.pending.append(job)
            self._cond.notify_all()
        return future

    def run(self, name: str, inputs: dict[str, Any] | None = None, timeout: float | None = None) -> Any:
        """Run a task and wait for its outputs.  ``timeout`` (seconds) bounds the whole
        wait; when it passes the run is interrupted and TaskTimeout is raised."""
        future = self.submit(name, inputs)
        try:
            return future.result(timeout)
        except FutureTimeout:
            job: _Job = future._walle_job  # type: ignore[attr-defined]
            with self._cond:
                if job in job.task.pending:
                    job.task.pending.remove(job)
                    dropped = True
                else:
                    dropped = False
                    self._request_stop(job, "timeout")
            if dropped:
                self._resolve(job, Outcome("interrupted"), "timeout")
            raise TaskTimeout(f"task {name!r} did not finish within {timeout}s (run interrupted)") from None

    def stats(self) -> dict[str, Any]:
        """Accounting: ``{"tasks": {name: {...}}, "abandoned": n}``.  Per task: ``runs``
        (finished), ``ok``, ``failures`` (= errors + timeouts + crashes + limits +
        cancelled), ``abandoned``, ``retries``, ``cpu_time`` (seconds, on the task's
        thread or in its worker process), ``peak_memory`` (bytes resident at the worst
        run; process tier only, else None).  ``abandoned`` at the top: abandoned runs
        still executing."""
        with self._cond:
            return {
                "tasks": {task.name: task.stats.as_dict() for task in self._order},
                "abandoned": len(self._zombies),
            }

    def close(self, timeout: float | None = None) -> None:
        """Stop accepting runs, fail waiting ones, interrupt running ones, and release every
        task.  Waits up to ``timeout`` (default: grace + 1 s) for the worker threads."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            dropped = [job for task in self._order for job in task.pending]
            for task in self._order:
                task.pending.clear()
                task.closed = True
            for job in self._running:
                self._request_stop(job, "close")
            self._cond.notify_all()
        for job in dropped:
            self._resolve(job, Outcome("interrupted"), "close")
        limit = time.monotonic() + (self._grace + 1.0 if timeout is None else timeout)
        for thread in [*self._threads, self._monitor]:
            thread.join(max(0.0, limit - time.monotonic()))
        with self._cond:
            tasks, self._order, self._tasks = self._order, [], {}
        for task in tasks:
            for slot in task.idle:
                self._close_slot(slot)
            task.idle = []
            if task.namespace is not None:
                task.namespace.close()
        if self._pool is not None:
            self._pool.close()
        if self._forkserver is not None:
            self._forkserver.close()
        if not self._stuck_interpreters():
            _live_runners.discard(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- internals

    def _stuck_interpreters(self) -> bool:
        """Sub-interpreters that still run an abandoned run (they cannot be destroyed)."""
        with self._cond:
            return self.mode == "interpreter" and bool(self._zombies)

    def _check_open(self) -> None:
        if self._closed:
            raise RunnerClosed("the runner is closed")

    def _task(self, name: str) -> _Task:
        task = self._tasks.get(name)
        if task is None:
            known = ", ".join(sorted(self._tasks)) or "none"
            raise UnknownTask(f"no task named {name!r} is loaded (loaded: {known})")
        return task

    def _spawn_worker(self) -> None:
        thread = threading.Thread(target=self._worker_loop, name="walle-vm-worker", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _cancel(self, future: TaskFuture) -> None:
        job: _Job | None = getattr(future, "_walle_job", None)
        if job is not None:
            with self._cond:
                self._request_stop(job, "cancel")

    def _request_stop(self, job: _Job, reason: str) -> None:
        """Mark a running job to be interrupted now (caller holds the lock)."""
        if job.stop_reason is not None or job.future.done():
            return
        now = time.monotonic()
        job.stop_reason = reason
        job.next_interrupt = now
        job.give_up_at = now + self._grace
        self._cond.notify_all()

    def _pick(self) -> tuple[_Job, Slot | None] | None:
        """Next runnable job, round-robin over tasks (caller holds the lock).  Returns the
        job with an idle slot, or with None when the worker must create a slot."""
        count = len(self._order)
        for i in range(count):
            task = self._order[(self._rr + i) % count]
            concurrency = task.bundle.manifest_info.limits.concurrency
            while task.pending and (task.idle or task.slots < concurrency):
                job = task.pending.popleft()
                if job.attempts == 0 and not job.future.set_running_or_notify_cancel():
                    continue  # cancelled while waiting
                self._rr = (self._rr + i + 1) % count
                if task.idle:
                    return job, task.idle.pop()
                task.slots += 1
                return job, None
        return None

    def _worker_loop(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    picked = self._pick()
                    if picked is not None:
                        break
                    self._cond.wait()
            job, slot = picked
            if slot is None:
                try:
                    slot = job.task.factory()
                except BaseException as exc:  # noqa: BLE001 - report to the caller
                    with self._cond:
                        job.task.slots -= 1
                        self._cond.notify_all()
                    self._fail(job.future, exc)
                    continue
            if not self._execute(job, slot):
                return  # this thread was abandoned and replaced

    def _execute(self, job: _Job, slot: Slot) -> bool:
        task = job.task
        timeout = task.bundle.manifest_info.limits.run_timeout
        with self._cond:
            job.slot = slot
            if timeout is not None:
                job.deadline = time.monotonic() + timeout
            task.running.add(job)
            self._running.add(job)
            self._cond.notify_all()
        broken = False
        try:
            if job.stop_reason is not None:  # stopped between pick and start
                outcome = Outcome("interrupted")
            else:
                outcome = slot.run(job.run_id, job.inputs)
        except BaseException as exc:  # noqa: BLE001 - host-side failure (codec, crashed guest)
            outcome = Outcome.from_exception(exc)
            broken = isinstance(exc, subinterp.GuestCrashed)
        broken = broken or outcome.kind in ("crashed", "limit") or job.killed
        with self._cond:
            task.running.discard(job)
            self._running.discard(job)
            abandoned = job.abandoned
            if abandoned:
                self._zombies.discard(job)
                task.zombies -= 1
                task.stats.add_cpu(outcome)
            keep = not (abandoned or broken or task.closed)
            if keep:
                task.idle.append(slot)
            elif not abandoned:
                task.slots -= 1
            retry = (
                outcome.kind == "crashed" and job.stop_reason is None and not task.closed
                and job.attempts < task.bundle.manifest_info.limits.max_retries
            )  # fmt: skip
            if retry:
                job.attempts += 1
                task.stats.counts["retries"] += 1
                task.pending.appendleft(job)
            elif not abandoned:
                task.stats.record(outcome, job.stop_reason)
            self._cond.notify_all()
        if not keep:
            self._close_slot(slot)
        if not (abandoned or retry):
            self._resolve(job, outcome, job.stop_reason)
        return not abandoned

    def _monitor_loop(self) -> None:
        with self._cond:
            while not (self._closed and not self._running and not self._zombies):
                now = time.monotonic()
                wake = float("inf")
                for job in list(self._running):
                    if job.stop_reason is None and now >= job.deadline:
                        self._request_stop(job, "timeout")
                    if job.stop_reason is None:
                        wake = min(wake, job.deadline)
                        continue
                    if now >= job.give_up_at:
                        self._give_up(job)
                        continue
                    if now >= job.next_interrupt and job.slot is not None:
                        job.slot.interrupt(job.run_id)
                        job.next_interrupt = now + _RESEND
                    wake = min(wake, job.next_interrupt, job.give_up_at)
                for job in self._zombies:
                    if now >= job.next_interrupt and job.slot is not None:
                        job.slot.interrupt(job.run_id)
                        job.next_interrupt = now + _ZOMBIE_RESEND
                    wake = min(wake, job.next_interrupt)
                self._cond.wait(None if wake == float("inf") else max(0.0, wake - now))

    def _give_up(self, job: _Job) -> None:
        """Stop a run that ignores interrupts (caller holds the lock): kill its worker
        process where there is one, else abandon it."""
        if job.slot is not None and job.slot.kill():
            job.killed = True  # its worker thread sees the worker die and resolves the run
            job.give_up_at = job.next_interrupt = float("inf")
            return
        job.abandoned = True
        job.task.running.discard(job)
        self._running.discard(job)
        self._zombies.add(job)
        job.task.zombies += 1
        job.task.slots -= 1
        job.task.stats.record(Outcome("interrupted"), job.stop_reason, abandoned=True)
        if self.mode == "interpreter":
            exitcode.watch()  # this run may outlive the host's exit: see _exit_without_finalizing
        if not self._closed and len(self._zombies) <= self._max_abandoned:
            self._spawn_worker()  # keep the pool at full strength, up to the cap
        threading.Thread(
            target=self._resolve, args=(job, Outcome("interrupted"), job.stop_reason, True), daemon=True
        ).start()  # resolve outside the lock: future callbacks may call back into the runner

    def _resolve(self, job: _Job, outcome: Outcome, reason: str | None, abandoned: bool = False) -> None:
        future = job.future
        if future.done():
            return
        future.stdout, future.stderr = outcome.stdout, outcome.stderr
        try:
            self._settle(future, job, outcome, reason, abandoned)
        except InvalidStateError:
            pass  # settled concurrently (e.g. cancelled while waiting): first one wins

    @staticmethod
    def _settle(future: Future, job: _Job, outcome: Outcome, reason: str | None, abandoned: bool) -> None:
        name = job.task.name
        if outcome.kind == "ok":
            future.set_result(outcome.value)
        elif outcome.kind == "error":
            future.set_exception(TaskError(name, outcome.exc_type, outcome.message, outcome.traceback))
        elif outcome.kind == "crashed":
            future.set_exception(TaskCrashed(name, f"task {name!r}: {outcome.message}", outcome.value))
        elif outcome.kind == "limit":
            future.set_exception(TaskLimitExceeded(name, outcome.exc_type, f"task {name!r} {outcome.message}"))
        elif reason == "timeout":
            limit = job.task.bundle.manifest_info.limits.run_timeout
            how = "interrupted"
            if abandoned:
                how = "abandoned: it ignored the interrupt"
            elif job.killed:
                how = f"killed: it ignored the interrupt ({outcome.message})"
            future.set_exception(
                TaskTimeout(f"task {name!r} exceeded its time limit ({limit}s) and was {how}")
            )
        elif reason in ("close", "unload"):
            future.set_exception(
                RunnerClosed(
                    f"task {name!r}: run stopped because the {'runner was closed' if reason == 'close' else 'task was unloaded'}"
                )
            )
        else:
            future.set_exception(TaskCancelled(f"task {name!r}: run cancelled"))

    @staticmethod
    def _fail(future: Future, exc: BaseException) -> None:
        if not future.done():
            future.set_exception(exc if isinstance(exc, VMError) else VMError(f"cannot start task: {exc}"))

    @staticmethod
    def _close_slot(slot: Slot) -> None:
        try:
            slot.close()
        except Exception:  # noqa: BLE001, S110 - best effort; the slot is being discarded
            pass


def _encode_inputs(task: str, inputs: dict[str, Any]) -> bytes:
    """The inputs as codec bytes, or InputError naming the first input that cannot cross."""
    try:
        return codec.dumps(inputs)
    except Exception as exc:  # noqa: BLE001 - find which input, for the message
        for key, value in inputs.items():
            try:
                codec.dumps(value)
            except Exception as why:  # noqa: BLE001
                raise InputError(
                    f"task {task!r}: input {key!r} ({type(value).__qualname__}) cannot be sent to the task: {why}"
                ) from None
        raise InputError(f"task {task!r}: the inputs cannot be sent to the task: {exc}") from None
