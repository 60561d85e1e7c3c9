"""User operators with keyed state and event-time timers (``Flow.process``).

    def count_then_report(ctx, record):
        ctx.state = (ctx.state or 0) + 1          # this key's state: any JSON-able value
        ctx.timer(ctx.ts + 60)                    # call on_timer when event time passes it

    def report(ctx):
        ctx.emit({"key": ctx.key, "n": ctx.state})
        ctx.state = None                          # None deletes the key's state

    p.flow("per_user").key_by("args.user").process(count_then_report, on_timer=report).emit()

State and timers are checkpointed with the batch like every operator's, so a restart
neither loses nor repeats a timer; a timer fires once the watermark reaches its time, in
time order (ties by key), and ``ctx.ts`` is then the timer's time.  Both functions are user
code: they must be deterministic (see :mod:`walle.pipeline.pipeline` on replays).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from typing import Any

from . import codec
from .operators import StatefulOp


class Context:
    """What a process function sees: ``key``, ``ts``, ``watermark``, ``state`` (read and
    assign), ``emit(value)`` and ``timer(at)``."""

    __slots__ = ("_op", "key", "ts")

    def __init__(self, op: ProcessOp, key: Any, ts: float) -> None:
        self._op, self.key, self.ts = op, key, ts

    @property
    def watermark(self) -> float:
        return self._op.watermark

    @property
    def state(self) -> Any:
        st = self._op.state.get(self.key)
        return st["v"] if st else None

    @state.setter
    def state(self, value: Any) -> None:
        self._op.entry(self.key)["v"] = value
        self._op.dirty[self.key] = None

    def emit(self, value: Any) -> None:
        """Send ``value`` downstream (at this context's time)."""
        self._op.out(self.ts, self.key, value)

    def timer(self, at: float) -> None:
        """Call ``on_timer`` for this key once event time reaches ``at``."""
        if not math.isfinite(at):
            raise ValueError(f"timer time must be finite, got {at!r}")
        self._op.schedule(self.key, float(at))


class ProcessOp(StatefulOp):
    """``state[key] = {"v": user state, "t": [timer times]}``."""

    time_driven = True

    def __init__(self, name: str, fn: Callable[[Context, Any], None],
                 on_timer: Callable[[Context], None] | None) -> None:
        super().__init__(name)
        self.fn, self.on_timer = fn, on_timer
        self.watermark = -math.inf
        self._timers: list[tuple[float, str, Any]] = []

    def entry(self, key: Any) -> dict:
        st = self.state.get(key)
        if st is None:
            st = self.state[key] = {"v": None, "t": []}
        return st

    def schedule(self, key: Any, at: float) -> None:
        st = self.entry(key)
        if at not in st["t"]:
            st["t"].append(at)
            self.dirty[key] = None
            heapq.heappush(self._timers, (at, codec.dumps(key), key))

    def push(self, ts: float, key: Any, value: Any) -> None:
        self.fn(Context(self, key, ts), value)
        self._drop_if_empty(key)
        if self._touched is not None and key in self.state:
            self.touch(key, ts)

    def advance(self, watermark: float) -> None:
        if watermark <= self.watermark:
            return
        self.watermark = watermark
        timers = self._timers
        while timers and timers[0][0] <= watermark:
            at, _, key = heapq.heappop(timers)
            st = self.state.get(key)
            if st is None or at not in st["t"]:
                continue                      # already fired, or the key was dropped
            st["t"].remove(at)
            self.dirty[key] = None
            if self.on_timer is not None:
                self.on_timer(Context(self, key, at))
            self._drop_if_empty(key)

    def _drop_if_empty(self, key: Any) -> None:
        st = self.state.get(key)
        if st is not None and st["v"] is None and not st["t"]:
            del self.state[key]
            self.dirty[key] = None

    def restored(self) -> None:
        self._timers = [(at, codec.dumps(key), key) for key, st in self.state.items()
                        for at in st["t"]]
        heapq.heapify(self._timers)

    def query(self, key: Any) -> Any:
        return self.state.get(key, {}).get("v")
