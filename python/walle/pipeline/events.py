"""The typed behaviour-event record and its validation on entry.

An event is validated completely before anything is stored: :func:`make_event` either returns
an immutable :class:`Event` or raises :class:`EventError` naming the field at fault.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .errors import EventError

_MAX_ID_LEN = 128
_ARG_TYPES = (str, int, float, bool, type(None))
MAX_TS = 253402300799.0          # 9999-12-31T23:59:59Z: later times are not dates
MAX_ITEMS = 1024                 # items per event
MAX_ARGS = 64                    # arguments per event
MAX_ARG_LEN = 16 * 1024          # characters of one str argument
MAX_EVENT_BYTES = 64 * 1024      # characters of all strings of an event together
_MAX_INT = 2**63                 # int arguments are 64-bit (what SQLite and JSON readers keep)


def _valid_text(value: str) -> bool:
    """True unless ``value`` holds a lone surrogate, which no encoding can store."""
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


class Event:
    """One user behaviour event.

    Attributes:
        ts: event time in seconds since the epoch (finite, non-negative float).
        id: event id / type, such as ``"page_enter"`` or ``"click"``.
        page: the page the event happened on ("" when none).
        items: ids of the items or objects the event concerns (may be empty).
        args: free arguments: a flat mapping of str to str/int/float/bool/None.
    """

    __slots__ = ("args", "id", "items", "page", "ts")

    def __init__(self, ts: float, id: str, page: str, items: tuple[str, ...],
                 args: dict[str, Any]) -> None:
        # Only make_event() should call this; it has already validated every field.
        self.ts = ts
        self.id = id
        self.page = page
        self.items = items
        self.args = args

    @property
    def item(self) -> str:
        """The first item id, or "" when the event concerns no item."""
        return self.items[0] if self.items else ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict that :func:`make_event` accepts back."""
        return {"ts": self.ts, "id": self.id, "page": self.page,
                "items": list(self.items), "args": dict(self.args)}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Event) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.ts, self.id, self.page, self.items))

    def __repr__(self) -> str:
        return (f"Event(ts={self.ts!r}, id={self.id!r}, page={self.page!r}, "
                f"items={self.items!r}, args={self.args!r})")


def _check_name(value: Any, field: str, allow_empty: bool) -> str:
    if not isinstance(value, str):
        raise EventError(f"event field {field!r} must be a str, got {type(value).__name__}")
    if not value and not allow_empty:
        raise EventError(f"event field {field!r} must not be empty")
    if len(value) > _MAX_ID_LEN:
        raise EventError(f"event field {field!r} is longer than {_MAX_ID_LEN} characters")
    if not _valid_text(value):
        raise EventError(f"event field {field!r} is not valid Unicode (a lone surrogate)")
    return value


def make_event(ts: Any, id: Any, page: Any = "", items: Any = (),
               args: Mapping[str, Any] | None = None) -> Event:
    """Validate the fields and build an :class:`Event`; raise :class:`EventError` if malformed."""
    # The common case is checked with cheap type tests first (this runs once per event);
    # the helpers give the precise error message.
    if type(ts) is not float:
        if isinstance(ts, bool) or not isinstance(ts, (int, float)):
            raise EventError(f"event field 'ts' must be a number, got {type(ts).__name__}")
        if not -MAX_TS <= ts <= MAX_TS:    # float(10**400) would raise OverflowError
            raise EventError(f"event field 'ts' must be a time in seconds within [0, {MAX_TS:.0f}]"
                             f", got a number of {len(str(abs(int(ts))))} digits")
        ts = float(ts)
    if not (0 <= ts <= MAX_TS):
        raise EventError(f"event field 'ts' must be finite and within [0, {MAX_TS:.0f}] "
                         f"(year 9999), got {ts!r}")
    if type(id) is not str or not id or len(id) > _MAX_ID_LEN or not id.isascii():
        _check_name(id, "id", allow_empty=False)
    if type(page) is not str or len(page) > _MAX_ID_LEN or not page.isascii():
        _check_name(page, "page", allow_empty=True)
    size = len(id) + len(page)
    if type(items) is list or type(items) is tuple:
        if len(items) > MAX_ITEMS:
            raise EventError(f"event field 'items' has {len(items)} items, more than {MAX_ITEMS}")
        for i, item in enumerate(items):
            if type(item) is not str or not item or len(item) > _MAX_ID_LEN or not item.isascii():
                _check_name(item, f"items[{i}]", allow_empty=False)
            size += len(item)
        items = tuple(items)
    elif isinstance(items, str):
        items = (_check_name(items, "items[0]", allow_empty=True),) if items else ()
    else:
        raise EventError(f"event field 'items' must be a str or a list of str, "
                         f"got {type(items).__name__}")
    if not args:
        if args is not None and not isinstance(args, Mapping):
            raise EventError(f"event field 'args' must be a mapping, got {type(args).__name__}")
        args = {}
    elif not isinstance(args, Mapping):
        raise EventError(f"event field 'args' must be a mapping, got {type(args).__name__}")
    else:
        if len(args) > MAX_ARGS:
            raise EventError(f"event field 'args' has {len(args)} arguments, more than {MAX_ARGS}")
        for key, value in args.items():
            if (type(key) is not str or not key or len(key) > _MAX_ID_LEN
                    or not _valid_text(key)):
                raise EventError(f"event field 'args' has a non-str, empty, too long or "
                                 f"invalid key {str(key)[:40]!r}")
            size += len(key)
            if type(value) is str:
                if len(value) > MAX_ARG_LEN:
                    raise EventError(f"event field 'args.{key}' is {len(value)} characters, "
                                     f"more than {MAX_ARG_LEN}")
                if not _valid_text(value):
                    raise EventError(f"event field 'args.{key}' is not valid Unicode "
                                     f"(a lone surrogate)")
                size += len(value)
            elif not isinstance(value, _ARG_TYPES):
                raise EventError(f"event field 'args.{key}' must be a scalar, "
                                 f"got {type(value).__name__}")
            elif type(value) is float and not math.isfinite(value):
                raise EventError(f"event field 'args.{key}' must be finite, got {value!r}")
            elif type(value) is int and not -_MAX_INT <= value < _MAX_INT:
                raise EventError(f"event field 'args.{key}' must be a 64-bit integer")
        args = dict(args)
    if size > MAX_EVENT_BYTES:
        raise EventError(f"event is {size} bytes of text, more than {MAX_EVENT_BYTES}")
    return Event(ts, id, page, items, args)


_KNOWN = frozenset(("ts", "id", "page", "items", "item", "args"))


def event_from_dict(data: Any) -> Event:
    """Validate a dict (as sent by an app or read from JSON) and build an :class:`Event`."""
    if isinstance(data, Event):
        return data
    if not isinstance(data, Mapping):
        raise EventError(f"an event must be a mapping, got {type(data).__name__}")
    unknown = set(data) - _KNOWN
    if unknown:
        raise EventError(f"event has unknown field(s) {sorted(unknown)}; put free "
                         f"arguments under 'args'")
    for field in ("ts", "id"):
        if field not in data:
            raise EventError(f"event field {field!r} is missing")
    items = data.get("items", ())
    if "item" in data:
        if "items" in data:
            raise EventError("event has both 'item' and 'items'; give one")
        items = data["item"]
    return make_event(data["ts"], data["id"], data.get("page", ""), items, data.get("args"))
