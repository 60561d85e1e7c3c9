"""Flow changes between versions of a task: stateful operators have stable uids, the stored
state is checked against the flow at start, and an incompatible change names the operator."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipeline_testlib import ev
from walle.pipeline import Count, Pipeline, StateMismatchError, Sum


def _v1(path: str) -> Pipeline:
    p = Pipeline(path, device_id="d")
    p.flow("totals").key_by("page").aggregate(n=Count())
    p.flow("gone").key_by("id").aggregate(n=Count())
    p.start()
    p.ingest_many(ev(float(i), "a", f"p{i % 2}", v=1) for i in range(10))
    p.close()
    return p


def test_changed_aggregate_is_an_error_naming_the_operator(tmp_path: Path) -> None:
    """Defect 8: changing an aggregate gave an IndexError at the next event."""
    path = str(tmp_path / "s.db")
    _v1(path)
    p = Pipeline(path, device_id="d", upgrade={"gone.aggregate": "keep"})
    p.flow("totals").key_by("page").aggregate(n=Count(), v=Sum("args.v"))
    with pytest.raises(StateMismatchError, match="operator 'totals.aggregate'"):
        p.start()
    p2 = Pipeline(path, device_id="d", upgrade={"totals.aggregate": "drop", "gone.aggregate": "keep"})
    p2.flow("totals").key_by("page").aggregate(n=Count(), v=Sum("args.v"))
    p2.start()
    p2.ingest(ev(20.0, "a", "p0", v=5))
    assert p2.query("totals", "p0") == {"key": "p0", "n": 1, "v": 5}
    p2.close()


def test_removed_operator_is_an_error_unless_dropped_or_kept(tmp_path: Path) -> None:
    """Defect 8: a removed flow silently orphaned its state."""
    path = str(tmp_path / "s.db")
    _v1(path)

    def v2(**options) -> Pipeline:
        p = Pipeline(path, device_id="d", **options)
        p.flow("totals").key_by("page").aggregate(n=Count())
        return p

    with pytest.raises(StateMismatchError, match="operator 'gone.aggregate'.*not in the flow"):
        v2().start()
    kept = v2(upgrade={"gone.aggregate": "keep"}).start()
    kept.close()
    back = Pipeline(path, device_id="d")     # re-adding the flow finds its state again
    back.flow("totals").key_by("page").aggregate(n=Count())
    back.flow("gone").key_by("id").aggregate(n=Count())
    back.start()
    assert back.query("gone", "a")["n"] == 10
    back.close()
    v2(upgrade={"gone.aggregate": "drop"}).start().close()
    v2().start().close()                      # dropped: nothing left to complain about


def test_inserting_a_stateless_stage_keeps_the_state(tmp_path: Path) -> None:
    """Operator names were positions in the flow: a filter added in front orphaned the
    aggregate's state."""
    path = str(tmp_path / "s.db")
    _v1(path)
    p = Pipeline(path, device_id="d", upgrade={"gone.aggregate": "keep"})
    p.flow("totals").filter("a").key_by("page").aggregate(n=Count())
    p.start()
    assert p.query("totals", "p0")["n"] == 5
    p.close()


def test_explicit_uid_survives_a_rename(tmp_path: Path) -> None:
    path = str(tmp_path / "s.db")
    p = Pipeline(path, device_id="d")
    p.flow("old").key_by("page").aggregate(n=Count(), uid="page-counts")
    p.start()
    p.ingest_many(ev(float(i), "a", "x") for i in range(3))
    p.close()
    q = Pipeline(path, device_id="d")
    q.flow("new").key_by("page").aggregate(n=Count(), uid="page-counts")
    q.start()
    assert q.query("new", "x")["n"] == 3
    q.close()
