"""The pipeline runtime: ingestion, checkpointing to the store, tasks and uplink.

Exactly-once across crashes: events are processed in memory and, every ``commit_every``
events (or ``commit_interval`` seconds), one SQLite transaction stores the raw events of the
batch, every changed operator state, the trigger runs, the results and tasks the batch
produced, and the next stream offset.  Tasks are dispatched and results uplinked only after
that commit.  A killed process restarts from the last commit: :attr:`Pipeline.offset` tells the
producer which event to send next, and everything derived from later events is recomputed
once.  Result keys are deterministic (``<stage>@<offset>#<n>``), so a re-run of the same events
produces the same results.
"""

from __future__ import annotations

import gc
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any, Self

from . import codec
from .errors import EventError, PipelineError
from .events import Event, event_from_dict, make_event
from .flow import EmitTarget, Flow
from .operators import StatefulOp
from .sink import Dispatcher, TaskSink
from .store import Result, Retention, Store, TaskRow
from .triggers import Trigger, TriggerSet
from .uplink import Uplink

_encode = json.JSONEncoder(separators=(",", ":")).encode  # one encoder, not one per call


def _event_row(off: int, ev: Event) -> tuple:
    # items joined by a control character: ids are validated names and cannot contain it
    return (off, ev.ts, ev.id, ev.page, "\x1f".join(ev.items),
            _encode(ev.args) if ev.args else "")


def _row_event(row: tuple) -> Event:
    _, ts, eid, page, items, args = row
    return make_event(ts, eid, page, tuple(items.split("\x1f")) if items else (),
                      json.loads(args) if args else {})


def _row_dict(row: tuple) -> dict[str, Any]:
    # the rows were validated on entry: build the dict directly, not through an Event
    _, ts, eid, page, items, args = row
    return {"ts": ts, "id": eid, "page": page, "items": items.split("\x1f") if items else [],
            "args": json.loads(args) if args else {}}


class Pipeline:
    """An on-device stream-processing pipeline.

    Args:
        store: path of the SQLite store (":memory:" keeps nothing across restarts).
        sink: where fired triggers and ``task:`` emits go (see :mod:`walle.pipeline.sink`).
        uplink_url: the collector endpoint; None keeps results in the store's outbox.
        device_id: this device's id in uplinked batches.
        commit_every / commit_interval: checkpoint after this many events or seconds.
        retention: what the store keeps (see :class:`~walle.pipeline.store.Retention`).
        freeze_gc: after start-up, call :func:`gc.freeze` so that the long-lived trigger trie
            and operators (and everything else allocated so far in the process) are no
            longer rescanned by the cyclic garbage collector; with thousands of triggers this
            saves about a fifth of the CPU per event.  Opt-in because it affects the process.
    """

    def __init__(self, store: str = ":memory:", sink: TaskSink | None = None,
                 uplink_url: str | None = None, device_id: str = "device",
                 commit_every: int = 1000, commit_interval: float = 1.0,
                 retention: Retention | None = None, synchronous: str = "NORMAL",
                 uplink_options: dict[str, Any] | None = None, freeze_gc: bool = False) -> None:
        if commit_every < 1:
            raise PipelineError(f"commit_every must be >= 1, got {commit_every}")
        self.store_path, self.sink, self.uplink_url = store, sink, uplink_url
        self.device_id, self.commit_every = device_id, commit_every
        self.commit_interval, self.synchronous = commit_interval, synchronous
        self.retention = retention or Retention()
        self.uplink_options = uplink_options or {}
        self.freeze_gc = freeze_gc
        self.triggers = TriggerSet(self._fire)
        self.flows: dict[str, Flow] = {}
        self.rejected = 0
        self._done: list[tuple[int, Result]] = []
        self._done_lock = threading.Lock()
        self.fires = 0
        self._started = False
        self._store: Store | None = None
        self._dispatcher: Dispatcher | None = None
        self._uplink: Uplink | None = None

    # -- declaration ------------------------------------------------------------------------

    def _check_not_started(self, what: str) -> None:
        if self._started:
            raise PipelineError(f"{what}: the pipeline has started; declare everything first")

    def trigger(self, name: str, pattern: str, task: str | None = None, within: float = 3600.0,
                max_events: int = 10_000,
                prepare: Callable[[Pipeline, dict[str, Any]], dict[str, Any]] | None = None
                ) -> Trigger:
        """Register a trigger (see :class:`~walle.pipeline.triggers.Trigger`)."""
        self._check_not_started(f"trigger {name!r}")
        trig = Trigger(name, pattern, task or name, within, max_events, prepare)
        self.triggers.add(trig)
        return trig

    def flow(self, name: str, source: str = "events") -> Flow:
        """Declare a flow reading ``source``: "events" or the name of an earlier flow."""
        self._check_not_started(f"flow {name!r}")
        if name in self.flows or name == "events":
            raise PipelineError(f"flow {name!r} is declared twice (or uses a reserved name)")
        if source != "events" and source not in self.flows:
            raise PipelineError(f"flow {name!r}: source {source!r} is not an earlier flow")
        f = Flow(self, name, source)
        self.flows[name] = f
        return f

    # -- start-up ---------------------------------------------------------------------------

    def start(self) -> Pipeline:
        """Build the operators, open the store, restore the last checkpoint, re-submit tasks
        that had not completed, and start the uplink."""
        if self._started:
            return self
        self._build()
        self._store = Store(self.store_path, self.synchronous)
        self._restore()
        self._started = True
        if self.sink is not None:
            self._dispatcher = Dispatcher(self.sink, self._task_done, self._materialize,
                                          on_idle=self.flush_tasks)
            for task_id, key, _, task, inputs in self._store.pending_tasks():
                self._dispatcher.put(task_id, key, task, codec.loads(inputs))
        if self.uplink_url:
            self._uplink = Uplink(self._store, self.uplink_url, self.device_id,
                                  **self.uplink_options)
            self._uplink.start()
        if self.freeze_gc:
            gc.freeze()
        return self

    def _build(self) -> None:
        self._heads: list[Callable[[float, Any, Any], None]] = []
        self._stateful: dict[str, StatefulOp] = {}
        for flow in self.flows.values():
            ops = flow.build(self._make_emit)
            if flow.source == "events":
                self._heads.append(flow.head)  # type: ignore[arg-type]
            else:
                self.flows[flow.source].tail_push(flow.head)  # type: ignore[arg-type]
            for other, join in flow.join_inputs:
                if other not in self.flows:
                    raise PipelineError(f"flow {flow.name!r}: join with unknown flow {other!r}")
            self._stateful.update((op.name, op) for op in ops if isinstance(op, StatefulOp))
        for flow in self.flows.values():
            for other, join in flow.join_inputs:
                self.flows[other].tail_push(join.side(1))
        self._timed = [op for op in self._stateful.values() if op.time_driven]

    def _restore(self) -> None:
        st = self._store
        assert st is not None
        self._next_off = int(st.get_meta("offset", "0"))  # type: ignore[arg-type]
        self.watermark = float(st.get_meta("watermark", "-inf"))  # type: ignore[arg-type]
        rows = st.load_state()
        for name, op in self._stateful.items():
            op.load(rows.get(name, []))
            op.advance(self.watermark)
        runs = st.get_meta("runs")
        if runs:
            self.triggers.restore(json.loads(runs))
        self._ring: deque[tuple[int, Event]] = deque(maxlen=max(4096, 2 * self.commit_every))
        self._events: list[tuple] = []
        self._results: list[Result] = []
        self._tasks: list[tuple[TaskRow, dict[str, Any]]] = []
        self._cur_off, self._emitted = -1, 0
        self._last_commit = time.monotonic()
        self._commits = 0

    # -- ingestion --------------------------------------------------------------------------

    @property
    def offset(self) -> int:
        """The number of events durably committed: a restarted producer resumes here."""
        if not self._started:
            raise PipelineError("the pipeline has not been started")
        return self._next_off - len(self._events)

    def ingest(self, event: Event | dict[str, Any]) -> int:
        """Validate and process one event; returns its stream offset.  A malformed event raises
        :class:`EventError` and leaves no trace.  Durable after the next commit."""
        if not self._started:
            raise PipelineError("ingest: call start() first")
        ev = event if isinstance(event, Event) else event_from_dict(event)
        off = self._next_off
        self._next_off = off + 1
        self._ring.append((off, ev))
        self._events.append(_event_row(off, ev))
        self._cur_off, self._emitted = off, 0
        if ev.ts > self.watermark:
            self.watermark = ev.ts
            for op in self._timed:
                op.advance(ev.ts)
        self.triggers.feed(off, ev)
        for head in self._heads:
            head(ev.ts, None, ev)
        if (len(self._events) >= self.commit_every
                or time.monotonic() - self._last_commit >= self.commit_interval):
            self.commit()
        return off

    def ingest_many(self, events: Iterable[Event | dict[str, Any]]) -> int:
        """Ingest events in order; malformed ones are counted in ``rejected`` and skipped."""
        n = 0
        for e in events:
            try:
                self.ingest(e)
                n += 1
            except EventError:
                self.rejected += 1
        return n

    # -- outputs of operators and triggers --------------------------------------------------

    def _key(self, stage: str) -> str:
        self._emitted += 1
        return f"{stage}@{self._cur_off}#{self._emitted}"

    def _make_emit(self, stage: str, target: EmitTarget) -> Callable[[Any], None]:
        if callable(target):
            return target
        if target == "uplink":
            return lambda value: self._results.append(
                (self._key(stage), "flow", self.watermark, codec.dumps(value)))
        if isinstance(target, str) and target.startswith("task:") and len(target) > 5:
            task = target[5:]
            return lambda value: self._queue_task(self._key(stage), stage, task,
                                                  {"flow": stage, "record": value})
        raise PipelineError(f"stage {stage!r}: emit target {target!r} is not 'uplink', "
                            f"'task:NAME' or a callable")

    def _queue_task(self, key: str, origin: str, task: str, inputs: dict[str, Any],
                    first_off: int | None = None) -> None:
        self._tasks.append(((key, origin, task, codec.dumps(inputs), first_off), inputs))

    def _fire(self, trig: Trigger, start: int, end: int, start_ts: float, end_ts: float,
              bindings: dict[str, Any]) -> None:
        first = max(start, end - trig.max_events + 1)
        match = {"trigger": trig.name, "start_offset": start, "end_offset": end,
                 "start_ts": start_ts, "end_ts": end_ts, "bindings": dict(bindings)}
        key = self._key(f"trigger:{trig.name}")
        self.fires += 1
        if trig.prepare is not None:
            match["events"] = [e.to_dict() for e in self.window_events(first, end)]
            self._queue_task(key, trig.name, trig.task, trig.prepare(self, match))
        else:
            # The task row refers to the events by offset (they are in the raw buffer, which
            # a restart reads); this run hands the Event objects over, and the dispatcher
            # thread turns them into dicts, so the ingest thread only slices the ring.
            match["window"] = [first, end]
            self._tasks.append(((key, trig.name, trig.task, codec.dumps(match), first),
                                {**match, "window": self.window_events(first, end)}))

    def _materialize(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Replace a task's ``window`` by its events as dicts (in the dispatcher thread)."""
        window = inputs.get("window")
        if window is None or self._store is None:
            return inputs
        out = {k: v for k, v in inputs.items() if k != "window"}
        if window and isinstance(window[0], Event):
            out["events"] = [e.to_dict() for e in window]
        else:
            out["events"] = [_row_dict(r) for r in self._store.events(window[0], window[1])]
        return out

    def window_events(self, start: int, end: int) -> list[Event]:
        """The events at stream positions ``start..end`` (from memory, else from the store)."""
        ring = self._ring
        first = ring[0][0] if ring else self._next_off
        last = ring[-1][0] if ring else self._next_off - 1
        out: list[Event] = []
        if start < first:
            out = [_row_event(r) for r in self._store.events(start, min(end, first - 1))]  # type: ignore[union-attr]
        if end >= first and start <= last:
            # windows end at the newest events: walk the ring from its right end
            lo, hi = max(start, first), min(end, last)
            tail = list(islice(reversed(ring), last - lo + 1))
            out.extend(ev for off, ev in reversed(tail) if off <= hi)
        return out

    def _task_done(self, task_id: int, key: str, task: str, result: Any,
                   error: BaseException | None) -> None:
        kind, data = "task", {"task": task, "output": result}
        if error is None:
            try:
                text = codec.dumps(data)
            except (TypeError, ValueError) as exc:
                error = exc
        if error is not None:
            kind, text = "task_error", codec.dumps(
                {"task": task, "error": f"{type(error).__name__}: {error}"})
        # Completions are written in batches (a transaction per task would cost more than the
        # task); until written, a crash just re-runs the task, whose row is still pending.
        with self._done_lock:
            self._done.append((task_id, (key, kind, time.time(), text)))
            full = len(self._done) >= 256
        if full:
            self.flush_tasks()

    def flush_tasks(self) -> None:
        """Write the buffered task results (called by commits, the dispatcher when idle, and
        when the buffer is full)."""
        if self._store is None or not self._done:
            return
        with self._store.transaction() as db:
            n = self._write_done(db)
        if n and self._uplink is not None:
            self._uplink.notify()

    def _write_done(self, db: Any) -> int:
        with self._done_lock:
            done, self._done = self._done, []
        return self._store.complete_tasks(db, done) if done else 0  # type: ignore[union-attr]

    # -- checkpoint -------------------------------------------------------------------------

    def commit(self) -> None:
        """Write the batch, the changed state and the offset in one transaction, then hand the
        batch's tasks to the sink and wake the uplink."""
        st = self._store
        if st is None:
            raise PipelineError("commit: call start() first")
        state = [(name, k, v) for name, op in self._stateful.items() for k, v in op.changes()]
        tasks = self._tasks
        self._commits += 1
        with st.transaction() as db:
            ids = st.write_batch(db, self._events, state, self._results, [t for t, _ in tasks])
            had_results = self._write_done(db) > 0 or bool(self._results)
            st.set_meta({"offset": str(self._next_off), "watermark": repr(self.watermark),
                         "runs": json.dumps(self.triggers.snapshot())}, db)
            if self._commits % self.retention.every == 0 and math.isfinite(self.watermark):
                keep = [o for o in (self.triggers.min_start(), st.first_task_offset(db))
                        if o is not None]
                st.apply_retention(db, self.retention, self.watermark, min(keep, default=None))
        self._events, self._results, self._tasks = [], [], []
        self._last_commit = time.monotonic()
        if self._dispatcher is not None:
            for task_id, (row, inputs) in zip(ids, tasks):
                self._dispatcher.put(task_id, row[0], row[2], inputs)
        if had_results and self._uplink is not None:
            self._uplink.notify()

    # -- reading and shutting down ----------------------------------------------------------

    def query(self, flow: str, key: Any = None) -> Any:
        """The current result of ``flow``'s last aggregate for ``key`` (None if none)."""
        f = self.flows.get(flow)
        if f is None:
            raise PipelineError(f"query: no flow named {flow!r}")
        op = f.last_stateful()
        if op is None:
            raise PipelineError(f"query: flow {flow!r} has no aggregate or join")
        return op.query(key)

    def keys(self, flow: str) -> list[Any]:
        """The keys that ``flow``'s last aggregate holds state for."""
        op = self.flows[flow].last_stateful() if flow in self.flows else None
        return list(op.state) if op is not None else []

    def drain(self, timeout: float) -> bool:
        """Commit, then wait (at most ``timeout`` s) until tasks are done and results sent."""
        deadline = time.monotonic() + timeout
        self.commit()
        if self._dispatcher is not None and not self._dispatcher.wait_idle(
                max(0.0, deadline - time.monotonic())):
            return False
        self.flush_tasks()
        if self._uplink is not None and self._store is not None:
            self._uplink.notify()
            while self._store.outbox_size() > 0:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.02)
        return True

    def stats(self) -> dict[str, Any]:
        """Counters for monitoring and the benchmark."""
        up = self._uplink.stats if self._uplink is not None else None
        return {"offset": self._next_off, "watermark": self.watermark,
                "active_runs": self.triggers.active_runs, "rejected": self.rejected,
                "late": sum(getattr(op, "late", 0) for op in self._stateful.values()),
                "outbox": self._store.outbox_size() if self._store else 0,
                "store_bytes": self._store.size_bytes() if self._store else 0,
                "uplink": vars(up) if up else None}

    def close(self, timeout: float = 5.0) -> None:
        """Commit what is pending and stop the threads (unsent results stay in the store)."""
        if not self._started:
            return
        self.commit()
        if self._dispatcher is not None:
            self._dispatcher.wait_idle(timeout)
            self._dispatcher.close(timeout)
            self.flush_tasks()
        if self._uplink is not None:
            self._uplink.close(timeout)
        if self._store is not None:
            self._store.close()
        self._started = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
