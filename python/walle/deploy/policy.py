"""Deployment policies: which devices a release targets, and at which stage.

Targeting is a pure function of the device's attributes, so the cloud can evaluate it
for a whole fleet and a test can check it without a server.  Staged percentages use a
hash of the user id salted per deployment: a device that is in at 1% stays in at 10%
(the bucket never changes, only the threshold grows), and different deployments sample
different users.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from .errors import PolicyError

BUCKETS = 10_000  # 0.01% granularity
DEFAULT_STAGES: tuple[float, ...] = (1.0, 10.0, 50.0, 100.0)


def bucket(salt: str, user_id: str) -> int:
    """The user's bucket in ``[0, BUCKETS)`` for a deployment salt."""
    digest = hashlib.sha256(f"{salt}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def in_percent(salt: str, user_id: str, percent: float) -> bool:
    """Whether the user falls inside the first ``percent`` % of buckets."""
    return bucket(salt, user_id) < round(percent * BUCKETS / 100)


def _spec(value: str | None, what: str) -> SpecifierSet | None:
    if not value:
        return None
    try:
        return SpecifierSet(value)
    except InvalidSpecifier as exc:
        raise PolicyError(f"{what}: {value!r} is not a version range like '>=2.1,<3'") from exc


def _version_in(value: Any, spec: SpecifierSet | None) -> bool:
    if spec is None:
        return True
    try:
        return Version(str(value)) in spec
    except InvalidVersion:
        return False  # a device with an unparsable version is never targeted by a range


@dataclass(frozen=True)
class Stage:
    """One rollout stage: a percentage of buckets, optionally held for ``hold_s``."""

    percent: float
    hold_s: float | None = None  # advance automatically after this long; None = by command

    def __post_init__(self) -> None:
        if not 0 < self.percent <= 100:
            raise PolicyError(f"stage percent {self.percent} is not in (0, 100]")


@dataclass(frozen=True)
class Policy:
    """Who a deployment targets.  Empty lists mean "any"."""

    app_version: str | None = None  # PEP 440 range, e.g. ">=2.3,<3"
    os: list[str] = field(default_factory=list)
    os_version: str | None = None
    models: list[str] = field(default_factory=list)
    tiers: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    allow: list[str] = field(default_factory=list)  # device or user ids: always in
    deny: list[str] = field(default_factory=list)  # device or user ids: never in

    def __post_init__(self) -> None:
        object.__setattr__(self, "_app", _spec(self.app_version, "app_version"))
        object.__setattr__(self, "_os", _spec(self.os_version, "os_version"))

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Policy:
        """Build from JSON, naming any unknown or mistyped field (lists must be lists)."""
        from .models import PolicyIn

        checked = validated(PolicyIn, data or {}, "policy")
        return cls(**checked.model_dump())

    def to_dict(self) -> dict[str, Any]:
        """JSON form (inverse of :meth:`from_dict`)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def matches(self, device_id: str, attrs: dict[str, Any]) -> bool:
        """Whether the device passes the attribute filters and lists (ignoring stages)."""
        user = str(attrs.get("user_id") or device_id)
        if device_id in self.deny or user in self.deny:
            return False
        if device_id in self.allow or user in self.allow:
            return True
        checks = (
            (self.os, attrs.get("os")),
            (self.models, attrs.get("model")),
            (self.tiers, attrs.get("tier")),
            (self.regions, attrs.get("region")),
        )
        if any(allowed and value not in allowed for allowed, value in checks):
            return False
        return _version_in(attrs.get("app_version"), self._app) and _version_in(  # type: ignore[attr-defined]
            attrs.get("os_version"), self._os  # type: ignore[attr-defined]
        )

    def targets(self, salt: str, percent: float, device_id: str, attrs: dict[str, Any]) -> bool:
        """Whether the device is targeted at a stage of ``percent`` %."""
        user = str(attrs.get("user_id") or device_id)
        if device_id in self.deny or user in self.deny:
            return False
        if device_id in self.allow or user in self.allow:
            return True
        return self.matches(device_id, attrs) and in_percent(salt, user, percent)


def validated(model: Any, data: Any, where: str) -> Any:
    """``model`` validated from ``data``; a :class:`PolicyError` names the first bad field."""
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(f"{where}: {describe_errors(exc.errors())}") from None


def describe_errors(errors: Any) -> str:
    """One line naming each invalid field of a pydantic/FastAPI validation error."""
    parts = []
    for e in errors:
        loc = ".".join(str(x) for x in e.get("loc", ()) if x not in ("body",))
        msg = "unknown field" if e.get("type") == "extra_forbidden" else e.get("msg", "invalid")
        parts.append(f"{loc or 'body'}: {msg}")
    return "; ".join(parts)


def parse_stages(raw: list[Any] | None) -> list[Stage]:
    """Stages from JSON: numbers or ``{"percent": p, "hold_s": s}``; must be increasing."""
    from .models import StageIn

    items = list(raw) if raw is not None else list(DEFAULT_STAGES)
    if not items:
        raise PolicyError("stages: at least one stage is needed")
    stages = []
    for i, x in enumerate(items):
        if hasattr(x, "model_dump"):
            x = x.model_dump()
        body = x if isinstance(x, dict) else {"percent": x}
        st = validated(StageIn, body, f"stages.{i}")
        stages.append(Stage(st.percent, st.hold_s))
    for a, b in itertools.pairwise(stages):
        if b.percent <= a.percent:
            raise PolicyError(f"stages must increase: {a.percent}% then {b.percent}%")
    return stages
