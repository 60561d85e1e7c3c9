"""Stateless operators (filter, map, key-by, emit) and the base of stateful ones.

Records flow through operators as ``push(ts, key, value)`` calls: ``ts`` is the event time
that windows use, ``key`` is set by key-by (None before), ``value`` is the Event or whatever
a map made of it.  Stateful operators keep per-key state as JSON-able data and mark the keys
they change, so a checkpoint writes only those.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import codec

Push = Callable[[float, Any, Any], None]


class Operator:
    """Base: holds the downstream push functions."""

    def __init__(self) -> None:
        self.downstream: list[Push] = []

    def out(self, ts: float, key: Any, value: Any) -> None:
        for push in self.downstream:
            push(ts, key, value)

    def push(self, ts: float, key: Any, value: Any) -> None:
        raise NotImplementedError


class FilterOp(Operator):
    def __init__(self, pred: Callable[[Any], bool]) -> None:
        super().__init__()
        self.pred = pred

    def push(self, ts: float, key: Any, value: Any) -> None:
        if self.pred(value):
            self.out(ts, key, value)


class MapOp(Operator):
    def __init__(self, fn: Callable[[Any], Any]) -> None:
        super().__init__()
        self.fn = fn

    def push(self, ts: float, key: Any, value: Any) -> None:
        value = self.fn(value)
        if value is not None:      # a map may drop a record by returning None
            self.out(ts, key, value)


class KeyByOp(Operator):
    def __init__(self, fn: Callable[[Any], Any]) -> None:
        super().__init__()
        self.fn = fn

    def push(self, ts: float, key: Any, value: Any) -> None:
        key = self.fn(value)
        if key is not None:        # records without the key field are not part of any group
            self.out(ts, key, value)


class EmitOp(Operator):
    """Hands each record to ``emit(value)``: the uplink outbox, a task, or a callback."""

    def __init__(self, emit: Callable[[Any], None]) -> None:
        super().__init__()
        self.emit = emit

    def push(self, ts: float, key: Any, value: Any) -> None:
        self.emit(value)
        self.out(ts, key, value)


class StatefulOp(Operator):
    """Per-key state with dirty tracking.  ``name`` is the operator's uid, unique in the
    pipeline and stable across versions of a flow (its state is stored under it);
    ``signature`` describes the definition the state was built by."""

    time_driven = False  # True when advance(watermark) may emit (time windows, joins)

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.state: dict[Any, Any] = {}
        self.dirty: dict[Any, None] = {}
        self.signature = type(self).__name__
        self.flow = ""
        self.legacy_name = ""
        self.ttl: float | None = None
        self.max_keys: int | None = None
        self.evicted = 0
        # key -> event time of its last record, least recently updated first; None when the
        # state is unbounded (no bookkeeping on the hot path then)
        self._touched: dict[Any, float] | None = None

    def bound(self, ttl: float | None, max_keys: int | None) -> None:
        """Bound the state: a key is dropped ``ttl`` seconds of event time after its last
        record, and the least recently updated keys beyond ``max_keys``."""
        self.ttl, self.max_keys = ttl, max_keys
        self._touched = {} if ttl is not None or max_keys is not None else None

    def touch(self, key: Any, ts: float) -> None:
        """A record updated ``key`` at event time ``ts`` (call only when bounded)."""
        touched = self._touched
        touched.pop(key, None)  # type: ignore[union-attr]
        touched[key] = ts  # type: ignore[index]

    def expire(self, watermark: float) -> None:
        """Drop the keys past their TTL and those over ``max_keys``, oldest update first."""
        touched = self._touched
        if not touched:
            return
        horizon = watermark - self.ttl if self.ttl is not None else -float("inf")
        while touched:
            key, ts = next(iter(touched.items()))
            if ts >= horizon and (self.max_keys is None or len(self.state) <= self.max_keys):
                break
            del touched[key]
            if key in self.state:
                self.evict(key)
                self.evicted += 1

    def evict(self, key: Any) -> None:
        """Forget ``key``'s state (the store row is deleted at the next commit)."""
        del self.state[key]
        self.dirty[key] = None

    def advance(self, watermark: float) -> None:
        """Event time moved to ``watermark``: close windows, prune buffers."""

    def changes(self) -> list[tuple[str, str | None]]:
        """(key JSON, state JSON or None when deleted) for every key changed since the last
        :meth:`committed` (they stay marked until then: a failed commit loses none)."""
        rows = []
        for key in self.dirty:
            st = self.state.get(key)
            rows.append((codec.dumps(key), None if st is None else codec.dumps(st)))
        return rows

    def committed(self) -> None:
        """The changes were written: forget them."""
        self.dirty = {}

    def load(self, rows: list[tuple[str, str]]) -> None:
        """Restore the state written by :meth:`changes` (at start-up, from the store)."""
        self.state = {codec.hashable(codec.loads(k)): codec.loads(v) for k, v in rows}
        self.dirty = {}
        self.restored()

    def touch_all(self, ts: float) -> None:
        """After :meth:`load`: update times are not stored, so every TTL restarts at ``ts``."""
        if self._touched is not None:
            self._touched = dict.fromkeys(self.state, ts)

    def restored(self) -> None:
        """Rebuild in-memory indexes from ``state`` after :meth:`load`."""

    def query(self, key: Any) -> Any:
        """The current result for ``key`` (None when there is none)."""
        return None
