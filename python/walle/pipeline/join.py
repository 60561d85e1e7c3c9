"""Join of two keyed streams within a time window.

A left record and a right record join when they have the same key and their event times are
at most ``within`` seconds apart.  Each side keeps, per key, the records of the last
``within`` seconds of event time (older ones can no longer join and are pruned when the
watermark moves), so the state is bounded by the window, not by the stream.
Output: ``{"key", "ts", "left", "right"}`` with ``ts`` the later of the two times.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .errors import PatternError
from .operators import StatefulOp


class JoinOp(StatefulOp):
    """``state[key] = [[[ts, left value], ...], [[ts, right value], ...]]``."""

    time_driven = True
    PRUNE_EVERY = 256

    def __init__(self, name: str, within: float) -> None:
        super().__init__(name)
        if not within > 0:
            raise PatternError(f"{name}: join 'within' must be > 0, got {within!r}")
        self.within = within
        self.watermark = -math.inf
        self._since_prune = 0

    def side(self, index: int) -> Callable[[float, Any, Any], None]:
        """The push function of the left (0) or right (1) input."""
        def push(ts: float, key: Any, value: Any) -> None:
            self._push(index, ts, key, value)
        return push

    def push(self, ts: float, key: Any, value: Any) -> None:
        self._push(0, ts, key, value)

    def _push(self, side: int, ts: float, key: Any, value: Any) -> None:
        if key is None:
            raise PatternError(f"{self.name}: join inputs must be keyed (use key_by first)")
        if ts < self.watermark - self.within:
            return                      # too old to join anything still kept
        st = self.state.get(key)
        if st is None:
            st = self.state[key] = [[], []]
        for other_ts, other in st[1 - side]:
            if abs(other_ts - ts) <= self.within:
                left, right = (value, other) if side == 0 else (other, value)
                self.out(max(ts, other_ts), key,
                         {"key": key, "ts": max(ts, other_ts), "left": left, "right": right})
        st[side].append([ts, value])
        self.dirty[key] = None

    def advance(self, watermark: float) -> None:
        if watermark <= self.watermark:
            return
        self.watermark = watermark
        self._since_prune += 1
        if self._since_prune < self.PRUNE_EVERY:
            return
        self._since_prune = 0
        horizon = watermark - self.within
        for key in list(self.state):
            st = self.state[key]
            kept = [[r for r in st[0] if r[0] >= horizon], [r for r in st[1] if r[0] >= horizon]]
            if kept[0] != st[0] or kept[1] != st[1]:
                self.dirty[key] = None
                if kept[0] or kept[1]:
                    self.state[key] = kept
                else:
                    del self.state[key]
