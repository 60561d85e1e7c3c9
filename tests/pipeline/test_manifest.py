"""``from_manifest``: the ``[pipeline]`` table of task.toml builds the same pipeline."""

from __future__ import annotations

import tomllib

import pytest
from pipeline_testlib import ev
from walle.pipeline import ManifestError, from_manifest

TOML = """
[pipeline]
device_id = "dev-7"
commit_every = 10

[pipeline.retention]
max_age_s = 3600

[[pipeline.triggers]]
name = "visit"
pattern = "page_enter(page=$p) * page_leave(page=$p)"
task = "score"
within_s = 60

[[pipeline.flows]]
name = "clicks"
filter = "click(args.price>=1)"
map = { item = "item", price = "args.price" }
key_by = "item"
window = { type = "tumbling", size_s = 10 }
aggregate = { n = "count", total = "sum(price)", top = "topk(1, item)" }
emit = "uplink"

[[pipeline.flows]]
name = "busy"
source = "clicks"
key_by = "'all'"
aggregate = { last = "last(2, key, n)" }
uid = "busy-state"
ttl_s = 600
max_keys = 10
"""


def test_manifest_builds_a_working_pipeline() -> None:
    calls = []
    p = from_manifest(tomllib.loads(TOML), sink=lambda name, inputs: calls.append(
        (name, inputs["bindings"])))
    assert p.device_id == "dev-7" and p.retention.max_age == 3600
    with p:
        op = p._stateful["busy-state"]
        assert (op.ttl, op.max_keys) == (600, 10)
        p.ingest_many([ev(1, "page_enter", "home"), ev(2, "click", "home", ["a"], price=2),
                       ev(3, "click", "home", ["a"], price=3), ev(4, "page_leave", "home"),
                       ev(15, "click", "home", ["b"], price=1)])
        assert p.drain(10)
        assert p.query("busy", "all") == {"key": "all", "last": [{"key": "a", "n": 2}]}
        assert calls == [("score", {"p": "home"})]
        kinds = sorted(k for _, _, k, _, _ in p._store.outbox(100))
        assert kinds == ["flow", "task"]


@pytest.mark.parametrize("table, path", [
    ({"pipeline": {"bogus": 1}}, "unknown key"),
    ({"triggers": [{"pattern": "a"}]}, r"pipeline.triggers\[0\].name is required"),
    ({"triggers": [{"name": "t", "pattern": "a *"}]}, "trigger 't'"),
    ({"flows": [{"name": "f", "window": {"type": "tumbling"}}]},
     r"pipeline.flows\[0\].window.size_s is required"),
    ({"flows": [{"name": "f", "window": {"type": "hourly"}}]}, "window.type"),
    ({"flows": [{"name": "f", "key_by": "x", "window": {"type": "count", "n": 2}}]},
     "needs pipeline.flows"),
    ({"flows": [{"name": "f", "aggregate": {"n": "median(x)"}}]}, "aggregate.n"),
    ({"flows": [{"name": "f", "aggregate": {"n": 3}}]}, "aggregate.n"),
    ({"flows": [{"name": "f", "map": {"a": 1}}]}, "map.a"),
    ({"flows": [{"name": "f", "emit": "nowhere"}]}, "emit target"),
    ({"commit_every": "10"}, "pipeline.commit_every"),
    ({"uplink": {"url": 5}}, "pipeline.uplink.url"),
])
def test_manifest_errors_name_the_key(table: dict, path: str) -> None:
    with pytest.raises(ManifestError, match=path):
        from_manifest(table)
