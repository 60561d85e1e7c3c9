"""Schema of ``task.toml``: checks every field the VM owns and collects all problems.

Top-level tables the VM does not define (``[pipeline]`` belongs to walle.pipeline, for
instance) are passed through untouched; unknown *keys* inside the VM's own tables, and
unknown top-level scalar keys, are errors because they are almost always typos.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

MANIFEST_NAME = "task.toml"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TRIGGER_TYPES = ("manual", "event", "interval")
TOP_KEYS = ("name", "version", "entry", "description")
OWN_TABLES = ("models", "resources", "trigger", "limits")
MODEL_KEYS = ("path", "backend", "threads")
LIMIT_DEFAULTS: dict[str, float | int | None] = {
    "run_timeout": None,  # seconds; None = no limit
    "queue_length": 64,
    "concurrency": 1,
    "memory_mb": None,  # MiB of address space a process-tier worker may add; None = no limit
    "cpu_time": None,  # CPU seconds per run in the process tier; None = no limit
    "max_retries": 0,  # process tier: re-runs of a run whose worker died
}


@dataclass(frozen=True)
class ModelSpec:
    """One ``[models.NAME]`` entry: a model file and the options passed to the loader."""

    name: str
    path: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Limits:
    """``[limits]``: run time limit (s), queued-run bound, and parallel runs of the task;
    for the process tier also memory (MiB of address space), CPU seconds per run, and how
    many times a run whose worker died is retried."""

    run_timeout: float | None = None
    queue_length: int = 64
    concurrency: int = 1
    memory_mb: int | None = None
    cpu_time: int | None = None
    max_retries: int = 0


@dataclass(frozen=True)
class Manifest:
    """The validated content of ``task.toml``; ``raw`` keeps every table, foreign ones too."""

    name: str
    version: str
    entry: str
    description: str
    models: dict[str, ModelSpec]
    resources: dict[str, str]
    trigger: dict[str, Any]
    limits: Limits
    raw: dict[str, Any]


class _Problems:
    """Collects "file: field: reason" lines."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[str] = []

    def add(self, where: str, reason: str) -> None:
        self.items.append(f"{self.file}: {where}: {reason}")


def _check_entry(entry: Any, out: _Problems) -> None:
    if not isinstance(entry, str) or entry.count(":") != 1:
        out.add("entry", f"must be 'module:function', got {entry!r}")
        return
    module, func = entry.split(":")
    if not module or not all(_IDENT_RE.match(p) for p in module.split(".")):
        out.add("entry", f"module part {module!r} is not a dotted Python name")
    if not _IDENT_RE.match(func):
        out.add("entry", f"function part {func!r} is not a Python identifier")


def _check_number(out: _Problems, where: str, value: Any, *, integer: bool, minimum: float) -> bool:
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type:
        out.add(where, f"must be {'an integer' if integer else 'a number'}, got {value!r}")
        return False
    if not math.isfinite(value) or value < minimum:
        out.add(where, f"must be >= {minimum}, got {value!r}")
        return False
    return True


def _check_models(models: Any, out: _Problems) -> dict[str, ModelSpec]:
    specs: dict[str, ModelSpec] = {}
    if not isinstance(models, dict):
        out.add("models", "must be a table of [models.NAME] tables")
        return specs
    for name, body in models.items():
        where = f"models.{name}"
        if not _IDENT_RE.match(name):
            out.add(where, "model name must be a Python identifier")
        if not isinstance(body, dict):
            out.add(where, "must be a table with at least 'path'")
            continue
        for key in body.keys() - set(MODEL_KEYS):
            out.add(f"{where}.{key}", f"unknown key (allowed: {', '.join(MODEL_KEYS)})")
        path = body.get("path")
        if not isinstance(path, str) or not path:
            out.add(f"{where}.path", "required, a path relative to the bundle")
        options: dict[str, Any] = {}
        if "backend" in body:
            if isinstance(body["backend"], str) and body["backend"]:
                options["backend"] = body["backend"]
            else:
                out.add(f"{where}.backend", f"must be a backend name, got {body['backend']!r}")
        if "threads" in body and _check_number(
            out, f"{where}.threads", body["threads"], integer=True, minimum=1
        ):
            options["threads"] = body["threads"]
        if isinstance(path, str) and path:
            specs[name] = ModelSpec(name, path, options)
    return specs


def _check_resources(resources: Any, out: _Problems) -> dict[str, str]:
    if not isinstance(resources, dict):
        out.add("resources", 'must be a table of NAME = "relative/path"')
        return {}
    good: dict[str, str] = {}
    for name, path in resources.items():
        if isinstance(path, str) and path:
            good[name] = path
        else:
            out.add(f"resources.{name}", f"must be a path relative to the bundle, got {path!r}")
    return good


def _check_trigger(trigger: Any, out: _Problems) -> dict[str, Any]:
    if not isinstance(trigger, dict):
        out.add("trigger", "must be a table")
        return {"type": "manual"}
    kind = trigger.get("type", "manual")
    allowed = {"type"}
    if kind not in TRIGGER_TYPES:
        out.add("trigger.type", f"must be one of {', '.join(TRIGGER_TYPES)}, got {kind!r}")
    if kind == "event":
        allowed.add("events")
        events = trigger.get("events")
        if not (isinstance(events, list) and events and all(isinstance(e, str) and e for e in events)):
            out.add("trigger.events", "required for type 'event': a non-empty list of names")
    if kind == "interval":
        allowed.add("interval")
        if "interval" not in trigger:
            out.add("trigger.interval", "required for type 'interval': seconds between runs")
        else:
            _check_number(out, "trigger.interval", trigger["interval"], integer=False, minimum=0.001)
    for key in trigger.keys() - allowed:
        out.add(f"trigger.{key}", f"unknown key for trigger type {kind!r}")
    return dict(trigger, type=kind)


def _check_limits(limits: Any, out: _Problems) -> Limits:
    if not isinstance(limits, dict):
        out.add("limits", "must be a table")
        return Limits()
    values = dict(LIMIT_DEFAULTS)
    for key, value in limits.items():
        where = f"limits.{key}"
        if key == "run_timeout":
            if _check_number(out, where, value, integer=False, minimum=0.001):
                values[key] = float(value)
        elif key in ("queue_length", "concurrency", "memory_mb", "cpu_time"):
            if _check_number(out, where, value, integer=True, minimum=1):
                values[key] = value
        elif key == "max_retries":
            if _check_number(out, where, value, integer=True, minimum=0):
                values[key] = value
        else:
            out.add(where, f"unknown key (allowed: {', '.join(LIMIT_DEFAULTS)})")
    return Limits(**values)  # type: ignore[arg-type]


def parse_manifest(data: dict[str, Any], file: str = MANIFEST_NAME) -> tuple[Manifest | None, list[str]]:
    """Validate a decoded ``task.toml``; return the manifest (None if unusable) and problems.

    Path fields are only checked for type here; :mod:`walle.vm.bundle` checks that they
    exist inside the bundle.
    """
    out = _Problems(file)
    for key, value in data.items():
        if key not in TOP_KEYS and key not in OWN_TABLES and not isinstance(value, dict):
            out.add(key, f"unknown top-level key (allowed: {', '.join(TOP_KEYS)}, or a table)")
    name = data.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        out.add("name", f"required, 1-64 of [A-Za-z0-9._-] starting alphanumeric, got {name!r}")
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        out.add("version", f"required, a non-empty string, got {version!r}")
    _check_entry(data.get("entry"), out)
    description = data.get("description", "")
    if not isinstance(description, str):
        out.add("description", "must be a string")
    models = _check_models(data.get("models", {}), out)
    resources = _check_resources(data.get("resources", {}), out)
    trigger = _check_trigger(data.get("trigger", {}), out)
    limits = _check_limits(data.get("limits", {}), out)
    if out.items:
        return None, out.items
    manifest = Manifest(
        name=name,  # type: ignore[arg-type]
        version=version,  # type: ignore[arg-type]
        entry=data["entry"],
        description=description,
        models=models,
        resources=resources,
        trigger=trigger,
        limits=limits,
        raw=data,
    )
    return manifest, []


def declared_paths(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Every well-typed path field as (field, relative path, "file" | "any").

    Tolerant of other faults so that path problems are reported alongside schema ones.
    """
    found: list[tuple[str, str, str]] = []
    models = data.get("models")
    if isinstance(models, dict):
        for name, body in models.items():
            if isinstance(body, dict) and isinstance(body.get("path"), str) and body["path"]:
                found.append((f"models.{name}.path", body["path"], "file"))
    resources = data.get("resources")
    if isinstance(resources, dict):
        for name, path in resources.items():
            if isinstance(path, str) and path:
                found.append((f"resources.{name}", path, "any"))
    return found
