"""Windows (count, tumbling, sliding, session) and the operators that aggregate over them.

Time is event time: the pipeline's watermark is the largest event timestamp seen so far, and a
time window ``[start, end)`` closes once the watermark reaches ``end + lateness``.  A record
for a window that has already closed is late and dropped (counted in ``late``).  Closed windows
are emitted downstream as ``{"key", "start", "end", <aggregate name>: <result>, ...}`` and the
latest one per key is kept for :meth:`query`.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import codec
from .aggregates import Aggregate
from .errors import PatternError
from .operators import StatefulOp
from .pattern import compile_condition


@dataclass(frozen=True)
class CountWindow:
    """Emit after every ``n`` records of a key."""

    n: int


@dataclass(frozen=True)
class Tumbling:
    """Consecutive, non-overlapping time windows of ``size`` seconds."""

    size: float


@dataclass(frozen=True)
class Sliding:
    """Time windows of ``size`` seconds starting every ``slide`` seconds."""

    size: float
    slide: float


@dataclass(frozen=True)
class Session:
    """A window per key delimited by events: it opens at a record matching ``start`` (any
    record when None), closes at one matching ``end`` (included), at the next ``start``, or
    after ``gap`` seconds without records.  ``start``/``end`` are one-step conditions such as
    ``"page_enter"`` or ``"page_leave(page=item)"``."""

    start: str | None = None
    end: str | None = None
    gap: float | None = None


Window = CountWindow | Tumbling | Sliding | Session


def check_window(w: Window, where: str) -> None:
    """Raise PatternError naming the field at fault if the window parameters are invalid."""
    bad = None
    if isinstance(w, CountWindow) and not (isinstance(w.n, int) and w.n >= 1):
        bad = "n must be an int >= 1"
    elif isinstance(w, Tumbling) and not w.size > 0:
        bad = "size must be > 0"
    elif isinstance(w, Sliding):
        if not (w.size > 0 and w.slide > 0 and w.slide <= w.size):
            bad = "size and slide must be > 0 with slide <= size"
        elif w.size / w.slide > 1000:
            bad = "size / slide must be <= 1000 (each record is added to that many windows)"
    elif isinstance(w, Session):
        if w.start is None and w.end is None and w.gap is None:
            bad = "a session needs start, end or gap"
        elif w.gap is not None and not w.gap > 0:
            bad = "gap must be > 0"
    elif not isinstance(w, (CountWindow, Tumbling, Sliding, Session)):
        bad = f"unknown window type {type(w).__name__}"
    if bad:
        raise PatternError(f"{where}: window: {bad}")


class WindowAggOp(StatefulOp):
    """Aggregates per key and window.  ``state[key] = {"w": [[start, end, states, n], ...],
    "latest": last emitted result}`` (end is None while a count or session window is open)."""

    time_driven = True

    def __init__(self, name: str, window: Window, aggs: dict[str, Aggregate],
                 lateness: float = 0.0) -> None:
        super().__init__(name)
        check_window(window, name)
        self.window = window
        self.aggs = list(aggs.items())
        self.lateness = lateness
        self.late = 0
        self.late_out: Callable[[Any], None] | None = None   # the late side output
        self.watermark = -math.inf
        # (close at, key as JSON, key): ties break on the key, not on insertion order, so
        # windows close in the same order after a restart as in an uninterrupted run
        self._deadlines: list[tuple[float, str, Any]] = []
        is_session = isinstance(window, Session)
        self._start: Callable[[Any], bool] | None = (
            compile_condition(window.start, f"{name}: session start")
            if is_session and window.start else None)
        self._end: Callable[[Any], bool] | None = (
            compile_condition(window.end, f"{name}: session end")
            if is_session and window.end else None)

    # -- ingestion --------------------------------------------------------------------------

    def push(self, ts: float, key: Any, value: Any) -> None:
        w = self.window
        st = self.state.get(key)
        if st is None:
            st = self.state[key] = {"w": [], "latest": None}
        if isinstance(w, CountWindow):
            self._add_count(ts, key, st, value)
        elif isinstance(w, Session):
            self._add_session(ts, key, st, value)
        else:
            size, slide = (w.size, w.size) if isinstance(w, Tumbling) else (w.size, w.slide)
            if ts + self.lateness < self.watermark - size:
                self._late(ts, key, value)
                return
            last_start = math.floor(ts / slide) * slide
            start = last_start - size + slide
            added = False
            while start <= last_start:
                if start + size + self.lateness > self.watermark:   # not closed yet
                    self._fold(key, st, start, start + size, value)
                    added = True
                start += slide
            if not added:
                self._late(ts, key, value)
                return
        self.dirty[key] = None
        if self._touched is not None:
            self.touch(key, ts)

    def _late(self, ts: float, key: Any, value: Any) -> None:
        """A record for windows that have closed: counted, and sent to the side output."""
        self.late += 1
        if self.late_out is not None:
            self.late_out({"key": key, "ts": ts, "record": value})

    def flush(self) -> None:
        """End of input: emit every open window, keys in a fixed order."""
        for _, key in sorted((codec.dumps(k), k) for k in self.state):
            st = self.state[key]
            for win in list(st["w"]):
                if win[1] is None:
                    win[1] = self.watermark
                self._emit(key, st, win)

    def _fold(self, key: Any, st: dict, start: float, end: float | None, value: Any) -> list:
        for win in st["w"]:
            if win[0] == start:
                break
        else:
            win = [start, end, [a.init() for _, a in self.aggs], 0]
            st["w"].append(win)
            if end is not None:
                self._schedule(end + self.lateness, key)
        states = win[2]
        for i, (_, agg) in enumerate(self.aggs):
            states[i] = agg.add(states[i], value)
        win[3] += 1
        return win

    def _add_count(self, ts: float, key: Any, st: dict, value: Any) -> None:
        start = st["w"][0][0] if st["w"] else ts
        win = self._fold(key, st, start, None, value)
        if win[3] >= self.window.n:
            win[1] = ts
            self._emit(key, st, win)

    def _add_session(self, ts: float, key: Any, st: dict, value: Any) -> None:
        w = self.window
        is_start = self._start is not None and self._start(value)
        if st["w"] and is_start:
            self._emit(key, st, st["w"][0])           # a new start closes the open session
        if not st["w"]:
            if self._start is not None and not is_start:
                return                               # outside any session
            self._fold(key, st, ts, None, value)
        else:
            self._fold(key, st, st["w"][0][0], None, value)
        win = st["w"][0]
        win[1] = ts                                  # end so far = last record's time
        if self._end is not None and self._end(value):
            self._emit(key, st, win)
        elif w.gap is not None:
            self._schedule(ts + w.gap, key)

    # -- closing ----------------------------------------------------------------------------

    def _schedule(self, when: float, key: Any) -> None:
        heapq.heappush(self._deadlines, (when, codec.dumps(key), key))

    def advance(self, watermark: float) -> None:
        if watermark <= self.watermark:
            return
        self.watermark = watermark
        dl = self._deadlines
        while dl and dl[0][0] <= watermark:
            _, _, key = heapq.heappop(dl)
            st = self.state.get(key)
            if not st:
                continue
            if isinstance(self.window, Session):
                # stale deadlines (the session saw records since) are skipped here
                if st["w"] and st["w"][0][1] + self.window.gap <= watermark:
                    self._emit(key, st, st["w"][0])
                continue
            for win in [x for x in st["w"] if x[1] + self.lateness <= watermark]:
                self._emit(key, st, win)

    def _emit(self, key: Any, st: dict, win: list) -> None:
        st["w"].remove(win)
        result = {"key": key, "start": win[0], "end": win[1]}
        for (name, agg), s in zip(self.aggs, win[2]):
            result[name] = agg.result(s)
        st["latest"] = result
        self.dirty[key] = None
        self.out(win[1], key, result)

    def evict(self, key: Any) -> None:
        """Close the key's open windows (emitting them), then forget it."""
        st = self.state[key]
        for win in list(st["w"]):
            if win[1] is None:            # an open count window: it ends now
                win[1] = self.watermark
            self._emit(key, st, win)
        super().evict(key)

    def restored(self) -> None:
        self._deadlines = []
        for key, st in self.state.items():
            for win in st["w"]:
                if isinstance(self.window, Session):
                    if self.window.gap is not None:
                        self._schedule(win[1] + self.window.gap, key)
                elif win[1] is not None and not isinstance(self.window, CountWindow):
                    self._schedule(win[1] + self.lateness, key)

    def query(self, key: Any) -> Any:
        st = self.state.get(key)
        return st["latest"] if st else None


class RunningAggOp(StatefulOp):
    """Aggregates per key over everything seen (no window); emits the updated result."""

    def __init__(self, name: str, aggs: dict[str, Aggregate]) -> None:
        super().__init__(name)
        if not aggs:
            raise PatternError(f"{name}: aggregate needs at least one aggregation")
        self.aggs = list(aggs.items())

    def push(self, ts: float, key: Any, value: Any) -> None:
        states = self.state.get(key)
        if states is None:
            states = self.state[key] = [a.init() for _, a in self.aggs]
        for i, (_, agg) in enumerate(self.aggs):
            states[i] = agg.add(states[i], value)
        self.dirty[key] = None
        if self._touched is not None:
            self.touch(key, ts)
        if self.downstream:
            self.out(ts, key, self.query(key))

    def query(self, key: Any) -> Any:
        states = self.state.get(key)
        if states is None:
            return None
        result: dict[str, Any] = {"key": key}
        for (name, agg), s in zip(self.aggs, states):
            result[name] = agg.result(s)
        return result
