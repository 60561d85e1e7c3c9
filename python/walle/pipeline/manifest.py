"""Build a pipeline from the ``[pipeline]`` table of a task bundle's ``task.toml``.

The schema is documented in the package docstring (:mod:`walle.pipeline`).  Every key is
checked; an error names its full path, such as ``pipeline.flows[1].window.size_s``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from .aggregates import parse_aggregate
from .errors import ManifestError, PipelineError
from .pipeline import Pipeline
from .sink import TaskSink
from .store import Retention
from .windows import CountWindow, Session, Sliding, Tumbling, Window

_TOP = {"store", "device_id", "commit_every", "commit_interval_s", "synchronous", "retention",
        "uplink", "triggers", "flows"}
_FLOW = {"name", "source", "filter", "map", "key_by", "join", "window", "lateness_s",
         "aggregate", "emit", "uid", "ttl_s", "max_keys"}


def _table(value: Any, path: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ManifestError(f"{path} must be a table, got {type(value).__name__}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ManifestError(f"{path} has unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    return value


def _get(t: Mapping[str, Any], key: str, path: str, kind: type | tuple, default: Any = None,
         required: bool = False) -> Any:
    if key not in t:
        if required:
            raise ManifestError(f"{path}.{key} is required")
        return default
    v = t[key]
    if isinstance(v, bool) and kind is not bool or not isinstance(v, kind):
        raise ManifestError(f"{path}.{key} has type {type(v).__name__}")
    return v


def _window(t: Any, path: str) -> Window:
    kind = _get(_table(t, path, {"type", "n", "size_s", "slide_s", "start", "end", "gap_s"}),
                "type", path, str, required=True)
    num = (int, float)
    if kind == "count":
        return CountWindow(_get(t, "n", path, int, required=True))
    if kind == "tumbling":
        return Tumbling(_get(t, "size_s", path, num, required=True))
    if kind == "sliding":
        return Sliding(_get(t, "size_s", path, num, required=True),
                       _get(t, "slide_s", path, num, required=True))
    if kind == "session":
        return Session(_get(t, "start", path, str), _get(t, "end", path, str),
                       _get(t, "gap_s", path, num))
    raise ManifestError(f"{path}.type must be count, tumbling, sliding or session, got {kind!r}")


def _flow(p: Pipeline, t: Any, path: str) -> None:
    t = _table(t, path, _FLOW)
    f = p.flow(_get(t, "name", path, str, required=True), _get(t, "source", path, str, "events"))
    if "filter" in t:
        f.filter(_get(t, "filter", path, str))
    if "map" in t:
        projection = _get(t, "map", path, Mapping)
        for k, v in projection.items():
            if not isinstance(v, str):
                raise ManifestError(f"{path}.map.{k} must be a field path string")
        f.map(dict(projection))
    if "key_by" in t:
        f.key_by(_get(t, "key_by", path, str))
    if "join" in t:
        j = _table(t["join"], f"{path}.join", {"with", "within_s"})
        f.join(_get(j, "with", f"{path}.join", str, required=True),
               _get(j, "within_s", f"{path}.join", (int, float), required=True))
    if "window" in t:
        f.window(_window(t["window"], f"{path}.window"))
    if "aggregate" in t:
        aggs = _get(t, "aggregate", path, Mapping)
        parsed = {}
        for name, spec in aggs.items():
            if not isinstance(spec, str):
                raise ManifestError(f"{path}.aggregate.{name} must be a string like 'count'")
            parsed[name] = parse_aggregate(spec, f"{path}.aggregate.{name}")
        f.aggregate(_get(t, "lateness_s", path, (int, float), 0.0), uid=_get(t, "uid", path, str),
                    ttl=_get(t, "ttl_s", path, (int, float)),
                    max_keys=_get(t, "max_keys", path, int), **parsed)
    elif "window" in t:
        raise ManifestError(f"{path}.window needs {path}.aggregate")
    if "emit" in t:
        target = _get(t, "emit", path, str)
        if target != "uplink" and not (target.startswith("task:") and len(target) > 5):
            raise ManifestError(f"{path}.emit: emit target {target!r} is not 'uplink' or "
                                f"'task:NAME'")
        f.emit(target)


def from_manifest(manifest: Mapping[str, Any], sink: TaskSink | None = None,
                  base_dir: str | None = None, store: str | None = None,
                  prepare: Mapping[str, Callable[[Pipeline, dict[str, Any]], dict[str, Any]]]
                  | None = None) -> Pipeline:
    """Build (not start) a :class:`Pipeline` from a parsed ``[pipeline]`` table (or from a
    whole manifest that has one).  ``store`` overrides the table's store path; a relative
    store path is taken relative to ``base_dir`` (the bundle directory).  ``prepare`` maps
    trigger names to input-preparing functions (code cannot live in TOML)."""
    prepare = dict(prepare or {})
    if isinstance(manifest, Mapping) and "pipeline" in manifest:
        manifest = manifest["pipeline"]
    top = _table(manifest, "pipeline", _TOP)
    path = store or _get(top, "store", "pipeline", str, ":memory:")
    if base_dir and path != ":memory:" and not os.path.isabs(path):
        path = os.path.join(base_dir, path)
    ret = _table(top.get("retention", {}), "pipeline.retention", {"max_age_s", "max_bytes"})
    defaults = Retention()
    retention = Retention(_get(ret, "max_age_s", "pipeline.retention", (int, float),
                               defaults.max_age),
                          _get(ret, "max_bytes", "pipeline.retention", int, defaults.max_bytes))
    up = _table(top.get("uplink", {}), "pipeline.uplink",
                {"url", "batch_size", "interval_s", "max_backoff_s"})
    options = {k: v for k, v in (
        ("batch_size", _get(up, "batch_size", "pipeline.uplink", int)),
        ("interval", _get(up, "interval_s", "pipeline.uplink", (int, float))),
        ("max_backoff", _get(up, "max_backoff_s", "pipeline.uplink", (int, float))))
        if v is not None}
    try:
        p = Pipeline(path, sink=sink, uplink_url=_get(up, "url", "pipeline.uplink", str),
                     device_id=_get(top, "device_id", "pipeline", str),
                     commit_every=_get(top, "commit_every", "pipeline", int, 1000),
                     commit_interval=_get(top, "commit_interval_s", "pipeline", (int, float),
                                          1.0),
                     retention=retention,
                     synchronous=_get(top, "synchronous", "pipeline", str, "NORMAL"),
                     uplink_options=options)
        trig_fields = {"name", "pattern", "task", "within_s", "max_events"}
        for i, t in enumerate(_get(top, "triggers", "pipeline", list, [])):
            tp = f"pipeline.triggers[{i}]"
            t = _table(t, tp, trig_fields)
            p.trigger(_get(t, "name", tp, str, required=True),
                      _get(t, "pattern", tp, str, required=True), _get(t, "task", tp, str),
                      _get(t, "within_s", tp, (int, float), 3600.0),
                      _get(t, "max_events", tp, int, 10_000), prepare.pop(t["name"], None))
        for i, t in enumerate(_get(top, "flows", "pipeline", list, [])):
            _flow(p, t, f"pipeline.flows[{i}]")
        if prepare:
            raise ManifestError(f"prepare given for unknown trigger(s) {sorted(prepare)}")
    except ManifestError:
        raise
    except PipelineError as exc:   # pattern and window errors: say where in the manifest
        raise ManifestError(f"pipeline: {exc}") from exc
    return p
