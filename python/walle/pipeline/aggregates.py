"""Aggregations: count, sum, distinct, last-N, top-K, first and last.

An aggregate is a small stateless object that knows how to fold a record into a state; the
state itself lives in the operator (per key and window) so that it can be checkpointed as JSON.
Every state is JSON-able as is (lists and dicts, never sets or deques), because a checkpoint
writes the states that changed after each batch.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import PatternError
from .fields import getter


class Aggregate:
    """Base class: ``init() -> state``, ``add(state, record) -> state``, ``result(state)``."""

    def init(self) -> Any:
        raise NotImplementedError

    def add(self, state: Any, record: Any) -> Any:
        raise NotImplementedError

    def result(self, state: Any) -> Any:
        return state

    def describe(self) -> str:
        """The definition as text, such as ``Sum(field='price')``: stored with the state, so
        that a changed definition is noticed at start (see Pipeline's ``upgrade``)."""
        params = ", ".join(f"{k}={v!r}" for k, v in sorted(vars(self).items())
                           if not k.startswith("_"))
        return f"{type(self).__name__}({params})"


class Count(Aggregate):
    """The number of records."""

    def init(self) -> int:
        return 0

    def add(self, state: int, record: Any) -> int:
        return state + 1


class Sum(Aggregate):
    """The sum of a numeric field (records without it count as 0)."""

    def __init__(self, field: str) -> None:
        self.field, self._get = field, getter(field)

    def init(self) -> float:
        return 0

    def add(self, state: float, record: Any) -> float:
        v = self._get(record)
        return state + v if isinstance(v, (int, float)) and not isinstance(v, bool) else state


class Distinct(Aggregate):
    """The distinct values of a field, in first-seen order (at most ``limit`` kept)."""

    def __init__(self, field: str, limit: int = 10_000) -> None:
        self.field, self._get, self.limit = field, getter(field), limit

    def init(self) -> list:
        return []

    def add(self, state: list, record: Any) -> list:
        v = self._get(record)
        if v is not None and len(state) < self.limit and v not in state:
            state.append(v)
        return state

    def result(self, state: list) -> list:
        return list(state)  # a copy: the state keeps changing after the result is emitted


class LastN(Aggregate):
    """The last ``n`` values of one field, or of several fields as dicts, oldest first."""

    def __init__(self, n: int, fields: str | list[str]) -> None:
        if n < 1:
            raise PatternError(f"last-N: n must be >= 1, got {n}")
        self.n = n
        self.fields = fields
        if isinstance(fields, str):
            self._get = getter(fields)
        else:
            gets = [(f, getter(f)) for f in fields]
            self._get = lambda r: {f: g(r) for f, g in gets}

    def init(self) -> list:
        return []

    def add(self, state: list, record: Any) -> list:
        state.append(self._get(record))
        if len(state) > self.n:
            del state[0]
        return state

    def result(self, state: list) -> list:
        return list(state)  # a copy: the state keeps changing after the result is emitted


class TopK(Aggregate):
    """The ``k`` most frequent values of a field as ``[[value, count], ...]``."""

    def __init__(self, k: int, field: str, limit: int = 10_000) -> None:
        self.k, self.field, self._get, self.limit = k, field, getter(field), limit

    def init(self) -> dict:
        return {}

    def add(self, state: dict, record: Any) -> dict:
        v = self._get(record)
        if v is not None:
            # JSON object keys are strings: count by str(value) so a checkpoint round-trips.
            key = str(v)
            if key in state or len(state) < self.limit:
                state[key] = state.get(key, 0) + 1
        return state

    def result(self, state: dict) -> list:
        ranked = sorted(state.items(), key=lambda kv: (-kv[1], kv[0]))
        return [[k, c] for k, c in ranked[: self.k]]


class First(Aggregate):
    """The first value of a field."""

    def __init__(self, field: str) -> None:
        self.field, self._get = field, getter(field)

    def init(self) -> list:
        return []

    def add(self, state: list, record: Any) -> list:
        if not state:
            state.append(self._get(record))
        return state

    def result(self, state: list) -> Any:
        return state[0] if state else None


class Last(First):
    """The last (non-missing) value of a field."""

    def add(self, state: list, record: Any) -> list:
        v = self._get(record)
        if v is not None or not state:
            state[:] = [v]
        return state


_SPEC = re.compile(r"^\s*(\w+)\s*(?:\((.*)\))?\s*$")


def parse_aggregate(spec: str, where: str) -> Aggregate:
    """Parse a manifest aggregate: ``count``, ``sum(f)``, ``distinct(f)``, ``last(n, f[, g])``,
    ``topk(k, f)``, ``first(f)``, ``latest(f)``."""
    m = _SPEC.match(spec) if isinstance(spec, str) else None
    if not m:
        raise PatternError(f"{where}: aggregate {spec!r} is not 'name' or 'name(args)'")
    name, body = m.group(1), m.group(2)
    args = [a.strip() for a in body.split(",")] if body else []
    try:
        if name == "count" and not args:
            return Count()
        if name == "sum" and len(args) == 1:
            return Sum(args[0])
        if name == "distinct" and len(args) == 1:
            return Distinct(args[0])
        if name == "first" and len(args) == 1:
            return First(args[0])
        if name == "latest" and len(args) == 1:
            return Last(args[0])
        if name == "last" and len(args) >= 2:
            return LastN(int(args[0]), args[1] if len(args) == 2 else args[1:])
        if name == "topk" and len(args) == 2:
            return TopK(int(args[0]), args[1])
    except ValueError as exc:
        raise PatternError(f"{where}: aggregate {spec!r}: {exc}") from None
    raise PatternError(f"{where}: unknown aggregate {spec!r}; use count, sum(f), distinct(f), "
                       f"last(n, f...), topk(k, f), first(f) or latest(f)")
