"""On-device stream processing of user behaviour events (``walle.pipeline``).

Raw events stay on the device; triggers, windows and aggregations turn them into compact
results and task inputs, kept in an embedded SQLite store and uplinked to the cloud.

Python API::

    from walle.pipeline import Pipeline, Count, Tumbling

    p = Pipeline("state.db", sink=runner, uplink_url="http://127.0.0.1:8080/v1/results")
    p.trigger("dwell", "page_enter(page=$p) * page_leave(page=$p)", task="score", within=600)
    p.flow("clicks").filter("click").key_by("page").window(Tumbling(60)) \\
        .aggregate(n=Count()).emit("uplink")
    with p:                       # start(): restores the last checkpoint
        p.ingest({"ts": 1.7e9, "id": "click", "page": "home", "items": ["i1"]})

Manifest schema: the ``[pipeline]`` table of a bundle's ``task.toml``, passed (parsed) to
:func:`from_manifest`.  Every key is optional unless marked; durations are seconds::

    [pipeline]
    store = "pipeline.db"           # SQLite path, relative to the bundle; default in memory
    device_id = "dev-1"             # id in uplinked batches; default: generated once and
                                    # kept in <store>.device
    commit_every = 1000             # checkpoint every N events ...
    commit_interval_s = 1.0         # ... or every S seconds, whichever comes first
    synchronous = "NORMAL"          # SQLite synchronous: NORMAL (survives kills) or FULL

    [pipeline.retention]
    max_age_s = 604800              # raw events older than this (event time) are deleted
    max_bytes = 268435456           # store size cap: oldest events, then oldest unsent results

    [pipeline.uplink]
    url = "http://127.0.0.1:8080/v1/results"   # required to uplink
    batch_size = 500                # results per POST
    interval_s = 1.0                # idle poll period
    max_backoff_s = 60              # retry back-off cap while offline

    [[pipeline.triggers]]
    name = "page_dwell"                                  # required, unique
    pattern = "page_enter(page=$p) * page_leave(page=$p)"  # required (see below)
    task = "score_page"             # task to run (default: the trigger name)
    within_s = 600                  # max seconds from first to last matched event
    max_events = 10000              # most recent events handed to the task

    [[pipeline.flows]]
    name = "clicks_per_page"        # required, unique
    source = "events"               # "events" or an earlier flow's name (its output)
    filter = "click|exposure(page=home, args.pos<5)"    # one-step condition
    map = { item = "item", price = "args.price" }        # projection to a dict
    key_by = "page"                 # field path, or a quoted constant "'all'"
    join = { with = "other_flow", within_s = 30 }        # join with a keyed flow
    window = { type = "tumbling", size_s = 60 }
        # or { type = "count", n = 100 } | { type = "sliding", size_s = 3600, slide_s = 60 }
        # or { type = "session", start = "page_enter", end = "page_leave", gap_s = 1800 }
    lateness_s = 0                  # how long a time window waits for late events
    uid = "clicks-per-page"         # stable id of the aggregate's state (default <name>.aggregate)
    ttl_s = 86400                   # drop a key's state this long (event time) after its last record
    max_keys = 100000               # keep at most this many keys (least recently updated go first)
    aggregate = { n = "count", revenue = "sum(price)", items = "distinct(item)",
                  recent = "last(50, item, price)", top = "topk(5, item)",
                  first_item = "first(item)", last_item = "latest(item)" }
    emit = "uplink"                 # or "task:NAME"

Patterns (:mod:`walle.pipeline.pattern`): steps separated by spaces; ``NAME`` or
``a|b`` match event ids, ``_`` any one event, ``*`` any number of events; conditions in
parentheses compare fields (``ts id page item items args.X`` or bare ``X`` for args) with
literals (``= != < <= > >=``) or bind/compare variables (``$p``).

Field paths on windowed/aggregated records are their dict keys (``key``, ``start``, ``end``
and the aggregate names).  Results leave the device as ``{seq, epoch, key, kind, ts, data}``
in batches of one *stream* (a random id made with the store file: a recreated store is a new
stream); the collector (:mod:`walle.pipeline.collector`) stores each ``(device, stream,
seq)`` once.

Guarantees and limits (details in each module's doc):

- Exactly once: one transaction per batch holds its state changes, results, tasks, dead
  letters and offset.  A failed commit (disk full, ...) returns the pipeline to the last
  checkpoint and raises :class:`StoreError`; the producer resends from ``p.offset``.
- User code that raises (map/filter/key functions, emit callbacks, ``prepare``) sends its
  event to a dead letter (``p.dead_letters()``); the rest of the batch is processed as if it
  had never come (``on_error="raise"`` refuses the event instead).  Functions must be
  deterministic: the batch is replayed.
- Backpressure: ``max_pending_tasks`` / ``max_outbox``; ``ingest`` blocks up to
  ``backpressure_timeout`` or raises :class:`BackpressureError` (``backpressure="error"``).
  A full VM queue delays tasks, never fails them.
- Event time: watermark = largest event time - ``out_of_orderness``; events beyond
  ``max_future_skew`` (default one day) of the wall clock are rejected or clamped;
  ``aggregate(lateness=, late=target)`` keeps windows open and routes late records;
  ``p.end_of_input()`` emits every open window; with ``idle_timeout``, ``p.tick()`` moves
  event time on while the source is idle; ``flow.process(fn, on_timer=)`` is a user
  operator with keyed state and event-time timers (:mod:`walle.pipeline.process`).
- Bounded state: ``aggregate(ttl=, max_keys=)``; ``p.stats()`` has ``state_keys``,
  ``evicted``, ``late``, ``dead_letters``, ``lag_s``, ``commit_ms`` and more.
- Upgrades: stateful operators have stable uids (``<flow>.aggregate`` or ``uid=``); a changed
  or removed one is a :class:`StateMismatchError` at start unless
  ``Pipeline(upgrade={uid: "drop" | "keep"})``.
- Uplink: batches bounded in bytes; a result the collector can never take becomes an
  :class:`UplinkError` (``p.uplink_errors``) and a dead letter.
- Input: at most 64 args, 1024 items, 16 KiB per string argument, 64 KiB of text per event,
  64-bit ints, ts within [0, year 9999]; any valid Unicode string round-trips.
- Store: integrity-checked at open; every SQLite failure is a StoreError naming the file.
"""

from __future__ import annotations

from .aggregates import Aggregate, Count, Distinct, First, Last, LastN, Sum, TopK
from .errors import (
    BackpressureError,
    EventError,
    ManifestError,
    PatternError,
    PipelineError,
    StateMismatchError,
    StoreError,
    UplinkError,
)
from .events import Event, event_from_dict, make_event
from .flow import Flow
from .manifest import from_manifest
from .pipeline import Pipeline
from .sink import Submitter, TaskSink
from .store import Retention
from .triggers import Trigger, TriggerSet
from .windows import CountWindow, Session, Sliding, Tumbling

__all__ = [
    "Aggregate", "BackpressureError", "Count", "CountWindow", "Distinct", "Event", "EventError", "First", "Flow",
    "Last", "LastN", "ManifestError", "PatternError", "Pipeline", "PipelineError", "Retention",
    "Session", "Sliding", "StateMismatchError", "StoreError", "Submitter", "Sum", "TaskSink", "TopK", "Trigger",
    "TriggerSet", "Tumbling", "UplinkError", "event_from_dict", "from_manifest", "make_event",
]
