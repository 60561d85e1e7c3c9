"""Field access by name on events and derived records.

A field path is ``ts``, ``id``, ``page``, ``item``, ``items``, ``args.NAME`` (or a bare ``NAME``
that is looked up in ``args``) on an :class:`Event`, and a dotted key path on a dict record
(the output of a map, window or join).  Getters are compiled once per operator because they run
once per event on the hot path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import PatternError
from .events import Event

Getter = Callable[[Any], Any]
_EVENT_ATTRS = frozenset(("ts", "id", "page", "item", "items", "args"))


def _dict_path(value: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(value, Event):
            value = value.args.get(part) if part not in _EVENT_ATTRS else getattr(value, part)
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


def getter(path: str) -> Getter:
    """Compile a field path into a function ``record -> value`` (None when absent)."""
    if not isinstance(path, str) or not path or any(not p for p in path.split(".")):
        raise PatternError(f"field path {path!r} is not a dotted name")
    parts = path.split(".")
    if len(parts) == 1 and path in _EVENT_ATTRS:
        def get_attr(value: Any) -> Any:
            if isinstance(value, Event):
                return getattr(value, path)
            return value.get(path) if isinstance(value, dict) else None
        return get_attr
    if len(parts) == 2 and parts[0] == "args":
        name = parts[1]

        def get_arg(value: Any) -> Any:
            if isinstance(value, Event):
                return value.args.get(name)
            return _dict_path(value, parts)
        return get_arg
    if len(parts) == 1:
        def get_bare(value: Any) -> Any:
            if isinstance(value, Event):
                return value.args.get(path)
            return value.get(path) if isinstance(value, dict) else None
        return get_bare
    return lambda value: _dict_path(value, parts)
