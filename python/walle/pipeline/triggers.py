"""All registered triggers matched together by one trie-like automaton over event ids.

Patterns that share a prefix of steps share trie nodes.  A partial match ("run") sits at a
node and is indexed by the event ids that node's children wait for, and each child edge is
found by a dict lookup on the event id and, when the step compares a field with a literal
(``page_enter(page=home)``), on that field's value.  So an event only touches the runs and
edges that it can advance: the cost per event does not grow with triggers that cannot match.

Semantics (skip-till-next-match): a step after ``*`` may match any later event, other steps
only the next one.  A run advances along each matching child once; a new run that reaches the
same node with the same variable bindings replaces the older one (the most recent start
wins, so ``page_enter(page=$p) * page_leave(page=$p)`` pairs a leave with the latest enter).
Runs older than the longest ``within`` below their node are dropped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import PatternError
from .events import Event
from .pattern import Cond, Step, parse_pattern
from .rangeindex import RangeIndex, bounds

_ANY_ID = "\0any"  # the by-id key of "_" steps: it cannot collide with a real event id


@dataclass(frozen=True)
class Trigger:
    """A task's declaration of when it runs.

    Attributes:
        name: unique trigger name.
        pattern: the event-id pattern (see :mod:`walle.pipeline.pattern`).
        task: the task to hand the collected window to (defaults to ``name``).
        within: the most seconds between the first and the last matched event.
        max_events: the most events handed to the task (the most recent are kept).
        prepare: optional ``(pipeline, match) -> inputs`` run at fire time in the ingest
            thread, to snapshot pipeline state (for example model features) for the task.
    """

    name: str
    pattern: str
    task: str = ""
    within: float = 3600.0
    max_events: int = 10_000
    prepare: Callable[[Any, dict[str, Any]], dict[str, Any]] | None = None


class _Dispatch:
    """Child edges of one node for one event id, hashed on the values of the fields that
    their steps compare with literals (``page_enter(page=item, item=i7)`` is found by the
    key ``("item", "i7")`` under the fields ``("item", "page")``) into a bucket, itself a
    _Dispatch without equalities.  Edges with numeric range conditions
    (``click(args.price>=10, args.price<20)``) are found through a :class:`RangeIndex` on
    the first such field; the others are ``plain`` and always candidates."""

    __slots__ = ("indexed", "plain", "ranges")

    def __init__(self) -> None:
        self.plain: list[_Node] = []
        self.indexed: dict[tuple[str, ...], tuple[tuple[Callable[[Any], Any], ...],
                                                  dict[tuple, _Dispatch]]] = {}
        self.ranges: dict[str, tuple[Callable[[Any], Any], RangeIndex]] = {}

    def add(self, child: _Node, by_equality: bool = True) -> None:
        conds = child.step.conds
        eqs = sorted({c.field: c for c in conds if c.var is None and c.op == "="}.values(),
                     key=lambda c: c.field) if by_equality else []
        if eqs:
            fields = tuple(c.field for c in eqs)
            entry = self.indexed.get(fields)
            if entry is None:
                entry = self.indexed[fields] = (tuple(c.get for c in eqs), {})
            values = tuple(c.value for c in eqs)
            bucket = entry[1].get(values)
            if bucket is None:
                bucket = entry[1][values] = _Dispatch()
            bucket.add(child, by_equality=False)
            return
        for c in conds:
            hull = bounds(conds, c.field)
            if hull is not None:
                entry_r = self.ranges.get(c.field)
                if entry_r is None:
                    entry_r = self.ranges[c.field] = (c.get, RangeIndex())
                entry_r[1].add(hull[0], hull[1], child)
                return
        self.plain.append(child)

    def candidates(self, ev: Event) -> list[_Node]:
        if not self.indexed and not self.ranges:
            return self.plain
        found = list(self.plain)
        for gets, by_value in self.indexed.values():
            bucket = by_value.get(tuple([g(ev) for g in gets]))
            if bucket is not None:
                found.extend(bucket.candidates(ev) if bucket.ranges else bucket.plain)
        for get, index in self.ranges.values():
            found.extend(index.find(get(ev)))
        return found


class _Node:
    __slots__ = (
        "children",
        "ends",
        "gap",
        "gap_children",
        "max_within",
        "n_gap",
        "nid",
        "step",
        "strict",
    )

    def __init__(self, nid: int, step: Step | None) -> None:
        self.nid = nid
        self.step = step
        self.children: dict[Step, _Node] = {}
        self.strict: dict[str, _Dispatch] = {}   # children that must match the next event
        self.gap: dict[str, _Dispatch] = {}      # children after a "*"
        self.gap_children: list[tuple[str, _Node]] = []   # (event id, child) after a "*"
        self.n_gap = 0
        self.ends: list[Trigger] = []
        self.max_within = 0.0

    def link(self, child: _Node) -> None:
        table = self.gap if child.step.gap else self.strict
        for eid in child.step.ids if child.step.ids is not None else (_ANY_ID,):
            table.setdefault(eid, _Dispatch()).add(child)
        if child.step.gap:
            self.n_gap += 1
            ids = child.step.ids if child.step.ids is not None else (_ANY_ID,)
            self.gap_children.extend((eid, child) for eid in ids)


class _Run:
    __slots__ = ("bind", "key", "last", "node", "start", "start_ts", "taken", "wait_keys")

    def __init__(self, node: _Node, start: int, start_ts: float, last: int,
                 bind: dict[str, Any]) -> None:
        self.key = (node.nid, tuple(sorted(bind.items())))
        self.node = node
        self.start = start
        self.start_ts = start_ts
        self.last = last
        self.bind = bind
        self.taken: set[int] = set()
        self.wait_keys: list[tuple] = []


FireFn = Callable[[Trigger, int, int, float, float, dict[str, Any]], None]


def _match_conds(conds: tuple[Cond, ...], ev: Event, bind: dict[str, Any]) -> dict | None:
    for c in conds:
        r = c.test(ev, bind)
        if r is False:
            return None
        if r is not True:
            bind = r
    return bind


class TriggerSet:
    """The automaton.  ``feed(offset, event)`` calls ``on_fire`` for every completed match."""

    SWEEP_EVERY = 1024

    def __init__(self, on_fire: FireFn, max_runs: int = 100_000) -> None:
        self._root = _Node(0, None)
        self._nodes: list[_Node] = [self._root]
        self._root_run = _Run(self._root, 0, 0.0, -1, {})
        self._on_fire = on_fire
        self._max_runs = max_runs
        self.triggers: dict[str, Trigger] = {}
        self._runs: dict[tuple, _Run] = {}
        # Runs after a gap, by what can advance them: (event id, None, None), or
        # (event id, field, value) when the child step requires field == value (a literal or a
        # variable the run has bound).  An event looks up only its own id and field values.
        self._waiting: dict[tuple, dict[tuple, _Run]] = {}
        self._wait_fields: dict[str, dict[str, Callable[[Any], Any]]] = {}
        self._fp: str | None = None
        self._fresh: list[_Run] = []
        self._fed = 0
        self._prev = -1          # offset of the event fed last: "the next event" follows it
        self.dropped_runs = 0

    def add(self, trigger: Trigger) -> None:
        """Register a trigger (before the first event; the trie is not rebuilt while running)."""
        if trigger.name in self.triggers:
            raise PatternError(f"trigger {trigger.name!r} is registered twice")
        if not trigger.within > 0:
            raise PatternError(f"trigger {trigger.name!r}: 'within' must be > 0")
        if self._runs:
            raise PatternError(f"trigger {trigger.name!r}: triggers must be added before events")
        steps = parse_pattern(trigger.pattern, f"trigger {trigger.name!r}")
        node = self._root
        for step in steps:
            node.max_within = max(node.max_within, trigger.within)
            child = node.children.get(step)
            if child is None:
                child = _Node(len(self._nodes), step)
                self._nodes.append(child)
                node.children[step] = child
                node.link(child)
            node = child
        node.ends.append(trigger)
        self.triggers[trigger.name] = trigger
        self._fp = None

    def fingerprint(self) -> str:
        """A digest of the registered patterns: saved runs are valid only for the same trie."""
        if self._fp is None:
            spec = [(t.name, t.pattern, t.within) for t in self.triggers.values()]
            self._fp = hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:16]
        return self._fp

    # -- matching ---------------------------------------------------------------------------

    def feed(self, offset: int, ev: Event) -> None:
        """Advance every run that ``ev`` (at stream position ``offset``) can advance."""
        if self._fresh:
            fresh, self._fresh = self._fresh, []
            for run in fresh:                   # strict children: only the next event
                if run.last == self._prev and run.node.strict:
                    self._advance(run, run.node.strict, ev, offset)
        waiting = self._waiting
        if waiting:
            found: dict[tuple, _Run] = {}
            eid = ev.id
            for _ in range(2):                  # the event's own id, then "_" steps
                group = waiting.get((eid, None, None))
                if group:
                    found.update(group)
                fields = self._wait_fields.get(eid)
                if fields:
                    for field, get in fields.items():
                        group = waiting.get((eid, field, get(ev)))
                        if group:
                            found.update(group)
                eid = _ANY_ID
            for run in found.values():
                if run.node.gap and self._runs.get(run.key) is run:
                    self._advance(run, run.node.gap, ev, offset)
        root = self._root.strict
        if ev.id in root or _ANY_ID in root:
            # one reusable run for starts: root steps are strict, so it is never "taken"
            # and its bindings are never mutated (matching copies them)
            start = self._root_run
            start.start, start.start_ts, start.last = offset, ev.ts, self._prev
            self._advance(start, root, ev, offset)
        self._prev = offset
        self._fed += 1
        if self._fed % self.SWEEP_EVERY == 0:
            self._sweep(ev.ts)

    def _advance(self, run: _Run, table: dict[str, _Dispatch], ev: Event, offset: int) -> None:
        for eid in (ev.id, _ANY_ID):
            dispatch = table.get(eid)
            if dispatch is None:
                continue
            for child in dispatch.candidates(ev):
                if child.nid in run.taken:
                    continue
                bind = _match_conds(child.step.conds, ev, run.bind)
                if bind is None:
                    continue
                if child.step.gap:
                    run.taken.add(child.nid)
                    if len(run.taken) >= run.node.n_gap:
                        self._remove(run)
                span = ev.ts - run.start_ts
                for trig in child.ends:
                    if span <= trig.within:
                        self._on_fire(trig, run.start, offset, run.start_ts, ev.ts, bind)
                if child.children and span <= child.max_within:
                    self._add(_Run(child, run.start, run.start_ts, offset, bind))

    def _add(self, run: _Run) -> None:
        old = self._runs.get(run.key)
        if old is not None:
            self._remove(old)
        self._fresh.append(run)
        if not run.node.gap:
            return                              # lives for one event, in _fresh only
        self._runs[run.key] = run
        keys = run.wait_keys
        for eid, child in run.node.gap_children:
            wk = self._wait_key(eid, child, run.bind)
            if wk not in keys:
                keys.append(wk)
                self._waiting.setdefault(wk, {})[run.key] = run
        if len(self._runs) > self._max_runs:    # oldest first: dicts keep insertion order
            self._remove(next(iter(self._runs.values())))
            self.dropped_runs += 1

    def _remove(self, run: _Run) -> None:
        if self._runs.get(run.key) is not run:
            return
        del self._runs[run.key]
        for wk in run.wait_keys:
            group = self._waiting.get(wk)
            if group is not None:
                group.pop(run.key, None)
                if not group:
                    del self._waiting[wk]

    def _wait_key(self, eid: str, child: _Node, bind: dict[str, Any]) -> tuple:
        for c in child.step.conds:
            if c.op != "=":
                continue
            if c.var is None:
                value = c.value
            elif c.var in bind:
                value = bind[c.var]
            else:
                continue
            self._wait_fields.setdefault(eid, {}).setdefault(c.field, c.get)
            return (eid, c.field, value)
        return (eid, None, None)

    def _sweep(self, now: float) -> None:
        for run in list(self._runs.values()):
            if now - run.start_ts > run.node.max_within:
                self._remove(run)

    @property
    def active_runs(self) -> int:
        """The number of partial matches waiting after a gap."""
        return len(self._runs)

    def min_start(self) -> int | None:
        """The oldest stream position an active run started at (its window must be kept)."""
        starts = [r.start for r in self._runs.values()] + [r.start for r in self._fresh]
        return min(starts) if starts else None

    # -- persistence ------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The runs as JSON-able data, to be saved in the same transaction as the offset."""
        def dump(r: _Run) -> list:
            return [r.node.nid, r.start, r.start_ts, r.last, r.bind, sorted(r.taken)]
        return {"fp": self.fingerprint(), "fed": self._fed, "prev": self._prev,
                "runs": [dump(r) for r in self._runs.values()],
                "fresh": [dump(r) for r in self._fresh]}

    def restore(self, data: dict[str, Any]) -> bool:
        """Load a snapshot; False (and no runs) if it was taken with other triggers."""
        self._runs.clear()
        self._waiting.clear()
        self._fresh = []
        self._prev = -1
        if data.get("fp") != self.fingerprint():
            return False
        self._fed = data["fed"]
        # (snapshots before "prev": the fresh runs were made by the event fed last)
        self._prev = data.get("prev", max([r[3] for r in data["fresh"]], default=-1))

        def load(row: list) -> _Run:
            run = _Run(self._nodes[row[0]], row[1], row[2], row[3], row[4])
            run.taken = set(row[5])
            return run
        for row in data["runs"]:
            self._add(load(row))
        self._fresh = [load(row) for row in data["fresh"]]
        return True
