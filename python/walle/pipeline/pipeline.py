"""The pipeline runtime: ingestion, checkpointing to the store, tasks and uplink.

Exactly-once across crashes: events are processed in memory and, every ``commit_every``
events (or ``commit_interval`` seconds), one SQLite transaction stores the raw events of the
batch, every changed operator state, the trigger runs, the results and tasks the batch
produced, its dead letters, and the next stream offset.  Tasks are dispatched and results
uplinked only after that commit.  A killed process restarts from the last commit:
:attr:`Pipeline.offset` tells the producer which event to send next, and everything derived
from later events is recomputed once.  Result keys are deterministic
(``<stage>@<offset>#<n>``), so a re-run of the same events produces the same results.

One mechanism keeps batches atomic in a running process too: *return to the last
checkpoint*.  When a commit fails (disk full, a damaged file) the in-memory state is reloaded
from the store and :class:`StoreError` is raised; the pipeline is then exactly as after a
kill, and the producer resends from :attr:`offset` (nothing is lost, nothing counted twice).
When user code (a map, filter or key function, an emit callback, a trigger's ``prepare``)
raises, the pipeline returns to the checkpoint and processes the batch's other events again
without the failing one, which goes to a dead letter with the error (``on_error=
"dead_letter"``) or is refused with a PipelineError (``on_error="raise"``).  User functions
must therefore be deterministic and free of side effects they cannot repeat.

Event time follows Flink's model: the watermark is the largest event time seen minus
``out_of_orderness``; an event more than ``max_future_skew`` seconds ahead of the wall clock
is rejected (or clamped to that bound, ``future_policy="clamp"``), so one wrong clock cannot
close every window.
"""

from __future__ import annotations

import gc
import json
import math
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from itertools import islice
from typing import Any, Self

from . import codec
from .errors import BackpressureError, EventError, PipelineError, StoreError, UplinkError
from .events import Event, event_from_dict, make_event
from .flow import EmitTarget, Flow
from .identity import resolve_device_id
from .operators import StatefulOp
from .sink import Dispatcher, TaskSink
from .store import DeadLetter, Result, Retention, Store, TaskRow
from .triggers import Trigger, TriggerSet
from .upgrade import check_policies, reconcile
from .uplink import Uplink
from .windows import WindowAggOp

_encode = json.JSONEncoder(separators=(",", ":")).encode  # one encoder, not one per call


def items_text(items: tuple[str, ...]) -> str:
    """Items as stored: joined by \x1f (cheap, the common case), or a JSON array when an item
    contains \x1f or the text would start with "[" (so every string round-trips)."""
    text = "\x1f".join(items)
    if text.count("\x1f") != len(items) - 1 or text[:1] == "[":
        return _encode(items)
    return text


def text_items(text: str) -> list[str]:
    """The inverse of :func:`items_text`."""
    if not text:
        return []
    return json.loads(text) if text[0] == "[" else text.split("\x1f")


def _event_row(off: int, ev: Event) -> tuple:
    return (off, ev.ts, ev.id, ev.page, items_text(ev.items) if ev.items else "",
            _encode(ev.args) if ev.args else "")


def _row_event(row: tuple) -> Event:
    _, ts, eid, page, items, args = row
    return make_event(ts, eid, page, tuple(text_items(items)), json.loads(args) if args else {})


def _row_dict(row: tuple) -> dict[str, Any]:
    # the rows were validated on entry: build the dict directly, not through an Event
    _, ts, eid, page, items, args = row
    return {"ts": ts, "id": eid, "page": page, "items": text_items(items),
            "args": json.loads(args) if args else {}}


def _error_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)).rstrip()[-4000:]


class Pipeline:
    """An on-device stream-processing pipeline.

    Args:
        store: path of the SQLite store (":memory:" keeps nothing across restarts).
        sink: where fired triggers and ``task:`` emits go (see :mod:`walle.pipeline.sink`).
        uplink_url: the collector endpoint; None keeps results in the store's outbox.
        device_id: this device's id in uplinked batches; None generates one at the first
            start and keeps it in ``<store>.device`` (see :mod:`walle.pipeline.identity`).
        commit_every / commit_interval: checkpoint after this many events or seconds.
        retention: what the store keeps (see :class:`~walle.pipeline.store.Retention`).
        uplink_options: keyword arguments of :class:`~walle.pipeline.uplink.Uplink`.
        freeze_gc: after start-up, call :func:`gc.freeze` so that the long-lived trigger trie
            and operators (and everything else allocated so far in the process) are no
            longer rescanned by the cyclic garbage collector; with thousands of triggers this
            saves about a fifth of the CPU per event.  Opt-in because it affects the process.
        max_pending_tasks / max_outbox: backpressure: when this many tasks are queued or
            running, or this many results wait to be uplinked, :meth:`ingest` waits up to
            ``backpressure_timeout`` s (``backpressure="block"``) or refuses at once
            (``"error"``) with :class:`BackpressureError`; the event is then not stored.
        on_error: "dead_letter" (default) or "raise": what an exception in user code does
            to its event (see above).
        out_of_orderness: seconds the watermark stays behind the largest event time.
        max_future_skew / future_policy / clock: events later than ``clock() +
            max_future_skew`` are rejected with EventError ("reject") or get that time
            ("clamp"); None disables the check.
        upgrade: {operator uid: "drop" | "keep"} for stored state that no longer fits the
            flows (see :mod:`walle.pipeline.upgrade`).
        metrics_registry: a ``prometheus_client`` registry to export :meth:`stats` to while
            started (see :mod:`walle.pipeline.metrics`).
        idle_timeout: seconds without events after which :meth:`tick` lets event time follow
            the wall clock (an idle source must not hold windows open forever); None: never.
    """

    def __init__(self, store: str = ":memory:", sink: TaskSink | None = None,
                 uplink_url: str | None = None, device_id: str | None = None,
                 commit_every: int = 1000, commit_interval: float = 1.0,
                 retention: Retention | None = None, synchronous: str = "NORMAL",
                 uplink_options: dict[str, Any] | None = None, freeze_gc: bool = False,
                 max_pending_tasks: int = 10_000, max_outbox: int = 100_000,
                 backpressure: str = "block", backpressure_timeout: float = 30.0,
                 on_error: str = "dead_letter", out_of_orderness: float = 0.0,
                 max_future_skew: float | None = 86400.0, future_policy: str = "reject",
                 clock: Callable[[], float] = time.time,
                 upgrade: Mapping[str, str] | None = None,
                 metrics_registry: Any = None, idle_timeout: float | None = None) -> None:
        if commit_every < 1:
            raise PipelineError(f"commit_every must be >= 1, got {commit_every}")
        for name, value, allowed in (("backpressure", backpressure, ("block", "error")),
                                     ("on_error", on_error, ("dead_letter", "raise")),
                                     ("future_policy", future_policy, ("reject", "clamp"))):
            if value not in allowed:
                raise PipelineError(f"{name} must be one of {allowed}, got {value!r}")
        for name, value in (("max_pending_tasks", max_pending_tasks),
                            ("max_outbox", max_outbox)):
            if not (isinstance(value, int) and value >= 1):
                raise PipelineError(f"{name} must be an int >= 1, got {value!r}")
        if not out_of_orderness >= 0 or (max_future_skew is not None
                                         and not max_future_skew >= 0):
            raise PipelineError("out_of_orderness and max_future_skew must be >= 0")
        self.store_path, self.sink, self.uplink_url = store, sink, uplink_url
        self.device_id, self.commit_every = device_id, commit_every
        self.commit_interval, self.synchronous = commit_interval, synchronous
        self.retention = retention or Retention()
        self.uplink_options = uplink_options or {}
        self.freeze_gc = freeze_gc
        self.max_pending_tasks, self.max_outbox = max_pending_tasks, max_outbox
        self.backpressure, self.backpressure_timeout = backpressure, backpressure_timeout
        self.on_error, self.out_of_orderness = on_error, out_of_orderness
        self.max_future_skew, self.future_policy, self._clock = (max_future_skew,
                                                                future_policy, clock)
        self.upgrade = check_policies(upgrade or {})
        self.triggers = TriggerSet(self._fire)
        self.flows: dict[str, Flow] = {}
        self.rejected = 0
        self.refused = 0
        self.clamped = 0
        self._done: list[tuple[int, Result]] = []
        self._done_lock = threading.Lock()
        self.fires = 0
        self.epoch = 0
        self._started = False
        self._store: Store | None = None
        self._dispatcher: Dispatcher | None = None
        self._uplink: Uplink | None = None
        self._commit_s = [0, 0.0, 0.0]     # commits, total seconds, last seconds
        self.last_store_error = ""
        self.metrics_registry = metrics_registry
        if idle_timeout is not None and not idle_timeout > 0:
            raise PipelineError(f"idle_timeout must be > 0, got {idle_timeout!r}")
        self.idle_timeout = idle_timeout
        self._last_seen = 0.0
        self._metrics: Any = None

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
        """Build the operators, open the store (checked), check its state against the flows,
        restore the last checkpoint, re-submit tasks that had not completed, and start the
        uplink."""
        if self._started:
            return self
        self._build()
        store = Store(self.store_path, self.synchronous)
        try:
            self.device_id = resolve_device_id(self.device_id, self.store_path)
            reconcile(store, self._stateful, self.upgrade)
            self.epoch = store.begin_epoch()
        except BaseException:
            store.close()
            raise
        self._store = store
        self._load_checkpoint()
        self._started = True
        if self.sink is not None:
            self._dispatcher = Dispatcher(self.sink, self._task_done, self._materialize,
                                          on_idle=self.flush_tasks)
            for task_id, key, _, task, inputs in store.pending_tasks():
                self._dispatcher.put(task_id, key, task, codec.loads(inputs))
        if self.uplink_url:
            self._uplink = Uplink(store, self.uplink_url, self.device_id,  # type: ignore[arg-type]
                                  **self.uplink_options)
            self._outbox_span = store.outbox_span()
            self._uplink.start()
        if self.metrics_registry is not None:
            from .metrics import PipelineCollector

            self._metrics = PipelineCollector(self)
            self.metrics_registry.register(self._metrics)
        if self.freeze_gc:
            gc.freeze()
        return self

    def _build(self) -> None:
        """Instantiate every operator afresh (at start, and to return to a checkpoint)."""
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
            for op in ops:
                if isinstance(op, StatefulOp):
                    if op.name in self._stateful:
                        raise PipelineError(f"flow {flow.name!r}: operator uid {op.name!r} "
                                            f"is used twice")
                    self._stateful[op.name] = op
        for flow in self.flows.values():
            for other, join in flow.join_inputs:
                self.flows[other].tail_push(join.side(1))
        self._timed = [op for op in self._stateful.values() if op.time_driven]
        self._bounded = [op for op in self._stateful.values() if op._touched is not None]

    def _load_checkpoint(self) -> None:
        """Set the in-memory state to the last commit's (operators must be fresh)."""
        st = self._store
        assert st is not None
        self._next_off = self._committed_off = int(st.get_meta("offset", "0"))  # type: ignore[arg-type]
        self.watermark = float(st.get_meta("watermark", "-inf"))  # type: ignore[arg-type]
        self._max_ts = float(st.get_meta("max_ts", repr(self.watermark)))  # type: ignore[arg-type]
        counts = json.loads(st.get_meta("counts", "{}"))  # type: ignore[arg-type]
        self.fires, self.events_in = counts.get("fires", 0), counts.get("events_in", 0)
        late = counts.get("late", {})
        rows = st.load_state()
        for name, op in self._stateful.items():
            op.load(rows.get(name, []))
            op.touch_all(self.watermark)
            if hasattr(op, "late"):
                op.late = late.get(name, 0)  # type: ignore[attr-defined]
            op.advance(self.watermark)
        runs = st.get_meta("runs")
        self.triggers.restore(json.loads(runs) if runs else {})
        self._ring: deque[tuple[int, Event]] = deque(maxlen=max(4096, 2 * self.commit_every))
        self._events: list[tuple] = []
        self._results: list[Result] = []
        self._tasks: list[tuple[TaskRow, dict[str, Any]]] = []
        self._dead: list[DeadLetter] = []
        self._cur_off, self._emitted = -1, 0
        self._last_commit = time.monotonic()
        self._commits = 0

    def _rollback(self) -> None:
        """Return to the last checkpoint: fresh operators loaded from the store."""
        self._build()
        self._load_checkpoint()

    # -- ingestion --------------------------------------------------------------------------

    @property
    def offset(self) -> int:
        """The number of events durably committed: a restarted producer resumes here."""
        if not self._started:
            raise PipelineError("the pipeline has not been started")
        return self._committed_off

    def ingest(self, event: Event | dict[str, Any]) -> int:
        """Validate and process one event; returns its stream offset.  Durable after the next
        commit.  Raises, leaving no trace of the event: EventError (malformed),
        BackpressureError (no room downstream), PipelineError (user code raised and
        ``on_error="raise"``).  Raises StoreError when the commit fails: the pipeline is
        then back at :attr:`offset` and the producer resends from there."""
        if not self._started:
            raise PipelineError("ingest: call start() first")
        ev = event if isinstance(event, Event) else event_from_dict(event)
        now = self._last_seen = self._clock()
        if self.max_future_skew is not None and ev.ts > now + self.max_future_skew:
            ev = self._future(ev)
        if ((self._dispatcher is not None
             and self._dispatcher.outstanding + len(self._tasks) >= self.max_pending_tasks)
                or (self._uplink is not None
                    and self._outbox_span + len(self._results) >= self.max_outbox)):
            self._make_room()
        off = self._next_off
        try:
            self._process(off, ev)
        except Exception as exc:  # user code raised: isolate the event, keep the batch
            self._recover(off, ev, exc)
            if self.on_error == "raise":
                raise PipelineError(f"event at offset {off} was not ingested: user code raised "
                                    f"{type(exc).__name__}: {exc}") from exc
        self._next_off = off + 1
        if (self._next_off - self._committed_off >= self.commit_every
                or time.monotonic() - self._last_commit >= self.commit_interval):
            self.commit()
        return off

    def _process(self, off: int, ev: Event) -> None:
        self._ring.append((off, ev))
        self._events.append(_event_row(off, ev))
        self._cur_off, self._emitted = off, 0
        self.events_in += 1
        if ev.ts > self._max_ts:
            self._max_ts = ev.ts
            wm = ev.ts - self.out_of_orderness
            if wm > self.watermark:
                self.watermark = wm
                for op in self._timed:
                    op.advance(wm)
        self.triggers.feed(off, ev)
        for head in self._heads:
            head(ev.ts, None, ev)
        if self._bounded and not off & 1023:   # by offset, so a replay expires alike
            for op in self._bounded:
                op.expire(self.watermark)

    def _recover(self, off: int, ev: Event, exc: Exception) -> None:
        """User code raised on event ``off``: return to the last checkpoint and process the
        batch's other events again, as if ``ev`` had never come (see the module doc)."""
        replay = [(r[0], _row_event(r)) for r in self._events if r[0] != off]
        dead = self._dead
        if self.on_error == "dead_letter":
            dead.append(self._dead_letter(off, ev, exc))
        while True:
            self._rollback()
            self._dead = dead
            failed = None
            try:
                for failed in replay:
                    self._process(*failed)
                self._next_off = off
                return
            except Exception as again:  # noqa: BLE001 - user code that fails only on replay
                o, e = failed  # type: ignore[misc]
                dead.append(self._dead_letter(o, e, again))
                replay = [(x, y) for x, y in replay if x != o]

    def _dead_letter(self, off: int, ev: Event, exc: BaseException) -> DeadLetter:
        return (off, "event", _error_text(exc), codec.dumps(ev.to_dict()), time.time())

    def _future(self, ev: Event) -> Event:
        """``ev`` is beyond the future skew: refuse it, or clamp its time."""
        limit = self._clock() + self.max_future_skew  # type: ignore[operator]
        if self.future_policy == "reject":
            raise EventError(f"event field 'ts' is {ev.ts - limit + self.max_future_skew:.0f}"  # type: ignore[operator]
                             f" s in the future, more than max_future_skew="
                             f"{self.max_future_skew} s")
        self.clamped += 1
        return Event(limit, ev.id, ev.page, ev.items, ev.args)

    def _room_problem(self) -> str | None:
        if self._dispatcher is not None:
            n = self._dispatcher.outstanding + len(self._tasks)
            if n >= self.max_pending_tasks:
                return f"{n} tasks are pending (max_pending_tasks={self.max_pending_tasks})"
        if self._uplink is not None:
            n = self._outbox_span + len(self._results)
            if n >= self.max_outbox:
                return (f"{n} results are waiting to be uplinked (max_outbox="
                        f"{self.max_outbox}; is the collector reachable?)")
        return None

    def _make_room(self) -> None:
        """Backpressure: wait until the tasks and results downstream leave room for one more
        event (or refuse it, per option)."""
        deadline = time.monotonic() + (self.backpressure_timeout
                                       if self.backpressure == "block" else 0.0)
        while True:
            if self._tasks or self._results:
                self.commit()           # what waits for a commit cannot drain
            if self._uplink is not None and self._store is not None:
                self._outbox_span = self._store.outbox_span()
            problem = self._room_problem()
            if problem is None:
                return
            if time.monotonic() >= deadline:
                self.refused += 1
                raise BackpressureError(f"event not accepted: {problem}")
            if self._uplink is not None:
                self._uplink.notify()
            if self._dispatcher is not None:
                self._dispatcher.wait_change(0.05)
            else:
                time.sleep(0.02)

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
            # (dead-lettered events leave gaps: the slice may reach before lo)
            out.extend(ev for off, ev in reversed(tail) if lo <= off <= hi)
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
            try:
                self.flush_tasks()
            except StoreError:
                pass   # kept buffered; written by the next commit or flush

    def flush_tasks(self) -> None:
        """Write the buffered task results (called by commits, the dispatcher when idle, and
        when the buffer is full).  On a store failure they stay buffered for the next try."""
        if self._store is None or not self._done:
            return
        with self._done_lock:
            done, self._done = self._done, []
        try:
            with self._store.transaction() as db:
                n = self._store.complete_tasks(db, done, self.epoch)
        except StoreError as exc:
            self.last_store_error = str(exc)
            with self._done_lock:
                self._done[:0] = done
            raise
        if n and self._uplink is not None:
            self._uplink.notify()

    # -- checkpoint -------------------------------------------------------------------------

    def commit(self) -> None:
        """Write the batch, the changed state, its results, dead letters and the offset in one
        transaction, then hand the batch's tasks to the sink and wake the uplink.  If the
        transaction fails, return to the last checkpoint and raise StoreError (the producer
        resends from :attr:`offset`)."""
        st = self._store
        if st is None:
            raise PipelineError("commit: call start() first")
        began = time.perf_counter()
        state = [(name, k, v) for name, op in self._stateful.items() for k, v in op.changes()]
        tasks = self._tasks
        with self._done_lock:
            done, self._done = self._done, []
        self._commits += 1
        counts = {"fires": self.fires, "events_in": self.events_in,
                  "late": {n: op.late for n, op in self._stateful.items()  # type: ignore[attr-defined]
                           if getattr(op, "late", 0)}}
        try:
            with st.transaction() as db:
                ids = st.write_batch(db, self._events, state, self._results,
                                     [t for t, _ in tasks], self._dead, self.epoch)
                had_results = bool(self._results)
                if done:
                    had_results = st.complete_tasks(db, done, self.epoch) > 0 or had_results
                st.set_meta({"offset": str(self._next_off), "watermark": repr(self.watermark),
                             "max_ts": repr(self._max_ts), "counts": json.dumps(counts),
                             "runs": json.dumps(self.triggers.snapshot())}, db)
                if self._commits % self.retention.every == 0 and math.isfinite(self.watermark):
                    keep = [o for o in (self.triggers.min_start(), st.first_task_offset(db))
                            if o is not None]
                    st.apply_retention(db, self.retention, self.watermark,
                                       min(keep, default=None))
        except StoreError as exc:
            self.last_store_error = str(exc)
            with self._done_lock:
                self._done[:0] = done
            try:
                self._rollback()
            except StoreError:
                self._stop()         # not even the checkpoint can be read: start() again
                raise exc from None
            raise
        for op in self._stateful.values():
            op.committed()
        self._committed_off = self._next_off
        self._events, self._results, self._tasks, self._dead = [], [], [], []
        self._last_commit = time.monotonic()
        if self._dispatcher is not None:
            for task_id, (row, inputs) in zip(ids, tasks):
                self._dispatcher.put(task_id, row[0], row[2], inputs)
        if self._uplink is not None:
            self._outbox_span = st.outbox_span()
            if had_results:
                self._uplink.notify()
        took = time.perf_counter() - began
        self._commit_s = [self._commit_s[0] + 1, self._commit_s[1] + took, took]

    def tick(self) -> bool:
        """Call now and then from the thread that ingests (an app's event loop).  Once no
        event came for ``idle_timeout`` seconds, event time moves on with the wall clock:
        the watermark becomes the largest event time plus the idle time (minus the
        out-of-orderness), closing the windows that were waiting, and the batch is
        committed.  True when it moved the watermark."""
        if not self._started or self.idle_timeout is None or not math.isfinite(self._max_ts):
            return False
        idle = self._clock() - self._last_seen
        if idle < self.idle_timeout:
            return False
        wm = self._max_ts + idle - self.out_of_orderness
        if wm <= self.watermark:
            return False
        self.watermark = wm
        self._cur_off = self._next_off - 1
        for op in self._timed:
            op.advance(wm)
        self.commit()
        return True

    def end_of_input(self) -> None:
        """The stream has ended (or the app stops for good): emit every open window now,
        whatever the watermark, and commit.  Records that come later for those windows
        start new ones."""
        self._cur_off = self._next_off - 1
        for op in self._timed:
            if isinstance(op, WindowAggOp):
                op.flush()
        self.commit()

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

    def dead_letters(self) -> list[dict[str, Any]]:
        """Events whose processing raised (``kind`` "event": ``offset``, ``event``) and results
        that could never be uplinked (``kind`` "uplink": ``result``), with ``error`` and the
        wall-clock time ``at``; committed ones first."""
        rows = [(d["offset"], d["kind"], d["error"], d["payload"], d["at"])
                for d in (self._store.dead_letters() if self._store else [])]
        rows += [(off, kind, err, codec.loads(p), at) for off, kind, err, p, at in self._dead]
        return [{"offset": off, "kind": kind, "error": err,
                 ("event" if kind == "event" else "result"): payload, "at": at}
                for off, kind, err, payload, at in rows]

    @property
    def uplink_errors(self) -> list[UplinkError]:
        """Results that can never be sent (each also in :meth:`dead_letters`)."""
        return list(self._uplink.errors) if self._uplink is not None else []

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
        st = self._store
        state_keys = {n: len(op.state) for n, op in self._stateful.items()} if self._started \
            else {}
        commits, total, last = self._commit_s
        return {"offset": self._next_off if self._started else 0,
                "watermark": self.watermark if self._started else -math.inf,
                "events_in": self.events_in if self._started else 0,
                "active_runs": self.triggers.active_runs, "fires": self.fires,
                "rejected": self.rejected, "refused": self.refused, "clamped": self.clamped,
                "late": sum(getattr(op, "late", 0) for op in self._stateful.values())
                if self._started else 0,
                "dead_letters": (st.count("dead_letters") if st else 0) + len(
                    getattr(self, "_dead", [])),
                "state_keys": state_keys,
                "evicted": sum(op.evicted for op in self._stateful.values()),
                "lag_s": (self._clock() - self._max_ts) if self._started
                and math.isfinite(self._max_ts) else None,
                "uncommitted": self._next_off - self._committed_off if self._started else 0,
                "pending_tasks": self._dispatcher.outstanding if self._dispatcher else 0,
                "vm_queue_full": self._dispatcher.queue_full if self._dispatcher else 0,
                "commit_ms": {"last": 1000 * last, "mean": 1000 * total / commits
                              if commits else 0.0},
                "outbox": st.outbox_size() if st else 0,
                "store_bytes": st.size_bytes() if st else 0,
                "uplink": vars(up) if up else None}

    def close(self, timeout: float = 5.0) -> None:
        """Commit what is pending and stop the threads (unsent results stay in the store,
        tasks that did not complete run again at the next start)."""
        if not self._started:
            return
        try:
            self.commit()
        finally:
            self._stop(timeout)

    def _stop(self, timeout: float = 5.0) -> None:
        """Stop the threads and close the store (what was not committed is dropped)."""
        if self._started:
            if self._dispatcher is not None:
                self._dispatcher.wait_idle(timeout)
                self._dispatcher.close(timeout)
                try:
                    self.flush_tasks()
                except StoreError:
                    pass     # the tasks stay pending in the store and run again at start
                self._dispatcher = None
            if self._uplink is not None:
                self._uplink.close(timeout)
                self._uplink = None
            if self._metrics is not None:
                self.metrics_registry.unregister(self._metrics)
                self._metrics = None
            if self._store is not None:
                try:
                    self._store.close()
                except StoreError:
                    pass
            self._started = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
