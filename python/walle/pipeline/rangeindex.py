"""An index of trie edges by numeric range conditions on one field (``args.price>=10``).

Edges whose step compares a field with numeric literals (``<  <= > >=``) and no literal
equality are found by the event's value of that field, not by testing each: one-sided
bounds (``x > c``) are kept sorted by ``c``, so the edges a value satisfies are a prefix or a
suffix found by bisection; two-sided bounds (``a <= x < b``) are stabbed through the sorted
distinct end points, each point and each gap between two points listing the intervals that
cover it (built once, at the first event).  The
candidates are a superset (open and closed ends are not told apart here), and the caller
still tests every condition of a candidate exactly, so the index only has to be fast.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from typing import Any

_LOWER = (">", ">=")
_UPPER = ("<", "<=")


def numeric(value: Any) -> bool:
    """A value that compares with numbers (bool included, as Python compares it); not NaN."""
    return type(value) in (int, float, bool) and not (type(value) is float
                                                     and math.isnan(value))


def bounds(conds: Any, field: str) -> tuple[float, float] | None:
    """The closed hull [lo, hi] of the literal range conditions on ``field``, or None."""
    lo, hi, found = -math.inf, math.inf, False
    for c in conds:
        if c.field != field or c.var is not None or not numeric(c.value):
            continue
        if c.op in _LOWER:
            lo, found = max(lo, c.value), True
        elif c.op in _UPPER:
            hi, found = min(hi, c.value), True
    return (lo, hi) if found else None


class RangeIndex:
    """Edges (any objects) by a closed interval [lo, hi] of one field's value."""

    def __init__(self) -> None:
        self._items: list[tuple[float, float, Any]] = []
        self._built = True
        self._below: list[float] = []      # lower-bound-only: sorted lo, and their edges
        self._below_edges: list[Any] = []
        self._above: list[float] = []      # upper-bound-only: sorted hi
        self._above_edges: list[Any] = []
        self._points: list[float] = []     # two-sided: sorted distinct end points
        self._segments: list[list[Any]] = []

    def add(self, lo: float, hi: float, edge: Any) -> None:
        self._items.append((lo, hi, edge))
        self._built = False

    def __len__(self) -> int:
        return len(self._items)

    def _build(self) -> None:
        below = sorted((lo, i) for i, (lo, hi, _) in enumerate(self._items) if hi == math.inf)
        above = sorted((hi, i) for i, (lo, hi, _) in enumerate(self._items)
                       if lo == -math.inf and hi != math.inf)
        both = [(lo, hi, e) for lo, hi, e in self._items if lo != -math.inf and hi != math.inf]
        self._below = [lo for lo, _ in below]
        self._below_edges = [self._items[i][2] for _, i in below]
        self._above = [hi for hi, _ in above]
        self._above_edges = [self._items[i][2] for _, i in above]
        self._points = sorted({x for lo, hi, _ in both for x in (lo, hi)})
        # slot 2k is the point points[k] itself, slot 2k+1 the open gap after it: a value
        # falls in exactly one slot, so no edge is found twice
        self._segments = [[] for _ in range(2 * len(self._points))]
        for lo, hi, edge in both:
            for slot in range(2 * bisect_left(self._points, lo),
                              2 * bisect_left(self._points, hi) + 1):
                self._segments[slot].append(edge)
        self._built = True

    def find(self, value: Any) -> list[Any]:
        """The edges whose interval may contain ``value`` (none for a non-number)."""
        if not numeric(value):
            return []
        if not self._built:
            self._build()
        out = self._below_edges[:bisect_right(self._below, value)]
        if self._above:
            out = out + self._above_edges[bisect_left(self._above, value):]
        points = self._points
        if points and points[0] <= value <= points[-1]:
            i = bisect_left(points, value)
            out = out + self._segments[2 * i if points[i] == value else 2 * i - 1]
        return out
