"""Stateful operators: windows, aggregations, joins, chained flows."""

from __future__ import annotations

import pytest
from pipeline_testlib import ev
from walle.pipeline import (
    Count,
    CountWindow,
    Distinct,
    First,
    Last,
    LastN,
    PatternError,
    Pipeline,
    Session,
    Sliding,
    Sum,
    TopK,
    Tumbling,
)


def collect(build, events) -> list:
    out: list = []
    p = Pipeline()
    build(p, out.append)
    p.start()
    p.ingest_many(events)
    p.close()
    return out


def test_filter_map_key_by_running_aggregates() -> None:
    def build(p, sink):
        (p.flow("f").filter("click(args.price>=2)").map({"item": "item", "p": "args.price"})
         .key_by("item").aggregate(n=Count(), s=Sum("p"), last=LastN(2, "p"),
                                   first=First("p"), latest=Last("p")).emit(sink))
    out = collect(build, [ev(1, "click", "", ["a"], price=1), ev(2, "click", "", ["a"], price=2),
                          ev(3, "view", "", ["a"], price=9), ev(4, "click", "", ["a"], price=5),
                          ev(5, "click", "", ["b"], price=3)])
    assert out == [
        {"key": "a", "n": 1, "s": 2, "last": [2], "first": 2, "latest": 2},
        {"key": "a", "n": 2, "s": 7, "last": [2, 5], "first": 2, "latest": 5},
        {"key": "b", "n": 1, "s": 3, "last": [3], "first": 3, "latest": 3},
    ]


def test_count_window_distinct_topk() -> None:
    def build(p, sink):
        (p.flow("f").key_by("page").window(CountWindow(3))
         .aggregate(d=Distinct("item"), top=TopK(1, "item")).emit(sink))
    items = ["x", "y", "x", "z", "z", "z", "q"]
    out = collect(build, [ev(i, "c", "p", [it]) for i, it in enumerate(items)])
    assert [(r["d"], r["top"], r["start"], r["end"]) for r in out] == [
        (["x", "y"], [["x", 2]], 0, 2), (["z"], [["z", 3]], 3, 5)]


def test_tumbling_window_closes_on_watermark_and_drops_late() -> None:
    def build(p, sink):
        p.flow("f").key_by("page").window(Tumbling(10)).aggregate(n=Count()).emit(sink)
    p_events = [ev(1, "a", "p"), ev(5, "a", "q"), ev(9, "a", "p"), ev(12, "a", "p"),
                ev(3, "a", "p"), ev(25, "a", "p")]
    out = collect(build, p_events)
    assert [(r["key"], r["start"], r["n"]) for r in out] == [
        ("p", 0, 2), ("q", 0, 1), ("p", 10, 1)]


def test_sliding_window() -> None:
    def build(p, sink):
        p.flow("f").key_by("id").window(Sliding(10, 5)).aggregate(n=Count()).emit(sink)
    out = collect(build, [ev(1, "a"), ev(6, "a"), ev(11, "a"), ev(30, "a")])
    assert [(r["start"], r["end"], r["n"]) for r in out] == [
        (-5, 5, 1), (0, 10, 2), (5, 15, 2), (10, 20, 1)]


def test_session_window_by_enter_leave_and_gap() -> None:
    def build(p, sink):
        (p.flow("f").key_by("page").window(Session("page_enter", "page_leave", gap=100))
         .aggregate(n=Count(), ids=LastN(5, "id")).emit(sink))
    out = collect(build, [ev(0, "scroll", "p"), ev(1, "page_enter", "p"), ev(2, "click", "p"),
                          ev(4, "page_leave", "p"), ev(5, "page_enter", "p"),
                          ev(6, "page_enter", "p"), ev(300, "x", "q")])
    assert [(r["start"], r["end"], r["ids"]) for r in out] == [
        (1, 4, ["page_enter", "click", "page_leave"]), (5, 5, ["page_enter"]),
        (6, 6, ["page_enter"])]


def test_join_within_window() -> None:
    def build(p, sink):
        p.flow("clicks").filter("click").key_by("item")
        p.flow("carts").filter("add_cart").key_by("item").join("clicks", within=10).map(
            lambda r: (r["key"], r["left"].ts, r["right"].ts)).emit(sink)
    out = collect(build, [ev(1, "click", "", ["a"]), ev(3, "add_cart", "", ["a"]),
                          ev(4, "add_cart", "", ["b"]), ev(5, "click", "", ["b"]),
                          ev(50, "add_cart", "", ["a"])])
    assert out == [("a", 3.0, 1.0), ("b", 4.0, 5.0)]


def test_chained_flow_reads_another_flows_output() -> None:
    def build(p, sink):
        p.flow("per_min").key_by("page").window(Tumbling(60)).aggregate(n=Count())
        p.flow("busy", source="per_min").filter(lambda r: r["n"] >= 2).emit(sink)
    out = collect(build, [ev(1, "a", "x"), ev(2, "a", "x"), ev(3, "a", "y"), ev(70, "a", "x")])
    assert [(r["key"], r["n"]) for r in out] == [("x", 2)]


@pytest.mark.parametrize("window, message", [
    (CountWindow(0), "n must"), (Tumbling(0), "size"), (Sliding(10, 20), "slide"),
    (Sliding(10000, 1), "1000"), (Session(), "needs"), (Session(gap=-1), "gap"),
])
def test_bad_windows(window, message) -> None:
    with pytest.raises(PatternError, match=message):
        Pipeline().flow("f").window(window)


def test_window_without_aggregate_is_an_error() -> None:
    p = Pipeline()
    p.flow("f").window(Tumbling(1))
    with pytest.raises(PatternError, match="followed by aggregate"):
        p.start()
