"""Event validation: malformed events are rejected with a reason and never stored."""

from __future__ import annotations

import math

import pytest
from pipeline_testlib import ev
from walle import Error
from walle.pipeline import Count, EventError, Pipeline, event_from_dict, make_event


def test_valid_event_round_trips() -> None:
    e = event_from_dict(ev(10, "click", "home", ["i1", "i2"], price=3.5))
    assert (e.ts, e.id, e.page, e.items, e.item, e.args) == (
        10.0, "click", "home", ("i1", "i2"), "i1", {"price": 3.5})
    assert event_from_dict(e.to_dict()) == e
    assert event_from_dict({"ts": 1, "id": "x", "item": "i9"}).items == ("i9",)


@pytest.mark.parametrize("bad, field", [
    ({"id": "click"}, "'ts'"),
    ({"ts": 1}, "'id'"),
    ({"ts": "1", "id": "a"}, "'ts'"),
    ({"ts": True, "id": "a"}, "'ts'"),
    ({"ts": math.nan, "id": "a"}, "'ts'"),
    ({"ts": -1, "id": "a"}, "'ts'"),
    ({"ts": 1, "id": ""}, "'id'"),
    ({"ts": 1, "id": 5}, "'id'"),
    ({"ts": 1, "id": "a", "page": None}, "'page'"),
    ({"ts": 1, "id": "a", "items": [1]}, "items[0]"),
    ({"ts": 1, "id": "a", "items": 3}, "'items'"),
    ({"ts": 1, "id": "a", "args": {"x": [1]}}, "args.x"),
    ({"ts": 1, "id": "a", "args": {"x": math.inf}}, "args.x"),
    ({"ts": 1, "id": "a", "args": 4}, "'args'"),
    ({"ts": 1, "id": "a", "price": 4}, "unknown"),
    ({"ts": 1, "id": "a" * 200}, "'id'"),
])
def test_malformed_event_is_rejected_naming_the_field(bad: dict, field: str) -> None:
    with pytest.raises(EventError, match=field.replace("[", r"\[")) as info:
        event_from_dict(bad)
    assert isinstance(info.value, Error)


def test_rejected_event_leaves_no_trace() -> None:
    p = Pipeline()
    p.flow("all").key_by("id").aggregate(n=Count())
    p.start()
    p.ingest(ev(1, "a"))
    with pytest.raises(EventError):
        p.ingest({"ts": 2, "id": "a", "args": {"bad": object()}})
    assert p.ingest_many([ev(3, "a"), {"ts": "x", "id": "a"}]) == 1
    assert p.rejected == 1
    p.commit()
    assert p.offset == 2
    assert [e.ts for e in p.window_events(0, 10)] == [1.0, 3.0]
    assert p.query("all", "a") == {"key": "a", "n": 2}
    p.close()


def test_make_event_copies_args() -> None:
    args = {"x": 1}
    e = make_event(1, "a", args=args)
    args["x"] = 2
    assert e.args == {"x": 1}


@pytest.mark.parametrize("bad, field", [
    ({"ts": 10**400, "id": "a"}, "'ts'"),                             # OverflowError before
    ({"ts": 1e300, "id": "a"}, "'ts'"),                               # beyond year 9999
    ({"ts": 1, "id": "a", "args": {"blob": "x" * 20_000_000}}, "args.blob"),
    ({"ts": 1, "id": "a", "args": {f"k{i}": i for i in range(1000)}}, "1000 arguments"),
    ({"ts": 1, "id": "a", "items": ["i"] * 100_000}, "100000 items"),
    ({"ts": 1, "id": "a", "args": {"n": 10**30}}, "args.n"),
    ({"ts": 1, "id": "a", "page": "\ud800"}, "'page'"),
    ({"ts": 1, "id": "a", "args": {f"k{i}": "v" * 3000 for i in range(60)}}, "bytes"),
])
def test_input_limits(bad: dict, field: str) -> None:
    """Defect 11: a 20 MB argument was accepted and ts=10**400 raised OverflowError."""
    with pytest.raises(EventError, match=field):
        event_from_dict(bad)
