"""The trigger automaton: pattern semantics, shared trie, scaling, snapshot/restore."""

from __future__ import annotations

import random

import pytest
from walle.pipeline import PatternError, Trigger, TriggerSet, event_from_dict
from walle.pipeline.pattern import compile_condition


def run(patterns: dict[str, str], stream: list[tuple], within: float = 100.0) -> list[tuple]:
    fired: list[tuple] = []
    ts = TriggerSet(lambda t, s, e, s_ts, e_ts, b: fired.append((t.name, s, e, b)))
    for name, pat in patterns.items():
        ts.add(Trigger(name, pat, within=within))
    for i, (eid, page, *rest) in enumerate(stream):
        ts.feed(i, event_from_dict({"ts": float(rest[0]) if rest else float(i), "id": eid,
                                    "page": page}))
    return fired


def test_enter_any_leave_same_page() -> None:
    stream = [("page_enter", "a"), ("click", "a"), ("page_enter", "b"), ("page_leave", "b"),
              ("scroll", "a"), ("page_leave", "a"), ("page_leave", "a")]
    fired = run({"visit": "page_enter(page=$p) * page_leave(page=$p)"}, stream)
    # b pairs with its own enter; a's leave pairs with a's enter, and only once
    assert fired == [("visit", 2, 3, {"p": "b"}), ("visit", 0, 5, {"p": "a"})]


def test_strict_steps_need_adjacent_events() -> None:
    stream = [("click", ""), ("add_cart", ""), ("click", ""), ("scroll", ""), ("add_cart", "")]
    assert run({"buy": "click add_cart"}, stream) == [("buy", 0, 1, {})]
    assert run({"buy": "click * add_cart"}, stream) == [("buy", 0, 1, {}), ("buy", 2, 4, {})]


def test_wildcards_alternatives_and_conditions() -> None:
    stream = [("click", "home"), ("scroll", "home"), ("view", "item"), ("click", "feed"),
              ("exposure", "feed")]
    fired = run({"any2": "click _", "alt": "click|view(page!=home)",
                 "cond": "_(page=feed) exposure"}, stream)
    assert sorted(fired) == [("alt", 2, 2, {}), ("alt", 3, 3, {}), ("any2", 0, 1, {}),
                             ("any2", 3, 4, {}), ("cond", 3, 4, {})]


def test_within_limits_the_span() -> None:
    stream = [("a", "", 0), ("b", "", 5), ("a", "", 10), ("b", "", 30)]
    assert run({"ab": "a * b"}, stream, within=10) == [("ab", 0, 1, {})]


def test_most_recent_start_wins() -> None:
    stream = [("page_enter", "x"), ("page_enter", "x"), ("page_leave", "x")]
    assert run({"v": "page_enter(page=$p) * page_leave(page=$p)"}, stream) == [
        ("v", 1, 2, {"p": "x"})]


def test_shared_prefixes_fire_each_trigger() -> None:
    stream = [("a", ""), ("b", ""), ("c", "")]
    fired = run({"ab": "a b", "abc": "a b c", "a_c": "a * c"}, stream)
    assert sorted(fired) == [("a_c", 0, 2, {}), ("ab", 0, 1, {}), ("abc", 0, 2, {})]


def test_ten_thousand_triggers_only_matching_ones_fire() -> None:
    fired: list[str] = []
    ts = TriggerSet(lambda t, *_: fired.append(t.name))
    for i in range(10_000):
        ts.add(Trigger(f"t{i}", f"page_enter(page=p{i}) * click(item=i{i % 7}) * "
                                f"page_leave(page=p{i})", within=100))
    events = [("page_enter", "p42", ""), ("click", "p42", "i0"), ("click", "p42", "i3"),
              ("page_leave", "p42", ""), ("page_leave", "p9999", "")]
    for i, (eid, page, item) in enumerate(events):
        ts.feed(i, event_from_dict({"ts": float(i), "id": eid, "page": page, "items": item}))
    assert fired == ["t42"]
    assert ts.active_runs <= 3   # only p42's partial matches were ever started


def test_snapshot_restore_continues_a_match() -> None:
    fired: list[tuple] = []

    def make() -> TriggerSet:
        t = TriggerSet(lambda tr, s, e, *_: fired.append((tr.name, s, e)))
        t.add(Trigger("v", "page_enter(page=$p) * page_leave(page=$p)"))
        t.add(Trigger("ab", "a b"))
        return t
    first = make()
    first.feed(0, event_from_dict({"ts": 0, "id": "page_enter", "page": "x"}))
    first.feed(1, event_from_dict({"ts": 1, "id": "a"}))
    snap = first.snapshot()
    second = make()
    assert second.restore(snap)
    second.feed(2, event_from_dict({"ts": 2, "id": "b"}))
    second.feed(3, event_from_dict({"ts": 3, "id": "page_leave", "page": "x"}))
    assert fired == [("ab", 1, 2), ("v", 0, 3)]
    other = TriggerSet(lambda *_: None)
    other.add(Trigger("w", "x y"))
    assert not other.restore(snap)   # saved with other triggers: runs are dropped


@pytest.mark.parametrize("pattern, message", [
    ("", "non-empty"), ("a *", "ends with"), ("a(b)", "field op value"),
    ("a(x=$1)", "variable"), ("*(x=1) b", "no conditions"), ("a|_", "alternative"),
    ("a ) b", "cannot parse"),
])
def test_bad_patterns_are_rejected(pattern: str, message: str) -> None:
    ts = TriggerSet(lambda *_: None)
    with pytest.raises(PatternError, match=message):
        ts.add(Trigger("bad", pattern))


def test_duplicate_trigger_name() -> None:
    ts = TriggerSet(lambda *_: None)
    ts.add(Trigger("t", "a"))
    with pytest.raises(PatternError, match="'t'"):
        ts.add(Trigger("t", "b"))


def test_range_index_fires_exactly_what_the_conditions_say() -> None:
    """Triggers on numeric ranges are found through the range index: every fire (and only
    those) that testing each condition directly gives, boundaries, ints, floats and one-sided
    bounds included."""
    rng = random.Random(5)
    ops = ["<", "<=", ">", ">="]
    patterns = {}
    for i in range(400):
        lo = rng.choice([rng.randrange(0, 20), round(rng.uniform(0, 20), 1)])
        shape = i % 4
        if shape == 0:      # two-sided
            conds = f"x{rng.choice(ops[2:])}{lo}, x{rng.choice(ops[:2])}{lo + rng.randrange(0, 4)}"
        elif shape == 1:    # one-sided
            conds = f"x{rng.choice(ops)}{lo}"
        elif shape == 2:    # range and another condition
            conds = f"x>={lo}, y!={rng.randrange(3)}"
        else:               # range on two fields
            conds = f"x<{lo}, y>{rng.randrange(3)}"
        patterns[f"t{i}"] = f"e({conds})"
    values = [rng.choice([rng.randrange(-1, 22), round(rng.uniform(-1, 22), 1), None, "s",
                          True]) for _ in range(600)]
    events = [{"ts": float(i), "id": "e", "args": {"x": v, "y": rng.randrange(4)}}
              for i, v in enumerate(values)]
    fired: list[tuple] = []
    ts = TriggerSet(lambda t, s, e, *_: fired.append((t.name, e)))
    for name, pat in patterns.items():
        ts.add(Trigger(name, pat))
    for i, e in enumerate(events):
        ts.feed(i, event_from_dict(e))
    preds = {name: compile_condition(pat) for name, pat in patterns.items()}
    expected = [(name, i) for i, e in enumerate(events)
                for name, pred in preds.items() if pred(event_from_dict(e))]
    assert sorted(fired) == sorted(expected)
    assert len(fired) > 1000
