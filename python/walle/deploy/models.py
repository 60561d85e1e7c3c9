"""Request bodies of the HTTP API (they also document it in the OpenAPI description).

Every body is a typed pydantic model that refuses unknown fields, so a request with a
wrong type or a typo is answered 422 naming the field, before anything is stored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

DEVICE_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,100}$"

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Range = Annotated[str, StringConstraints(max_length=200)]


class Strict(BaseModel):
    """Base of every request body: unknown fields are errors, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class ReleaseIn(Strict):
    """A signed release statement; the bundle must already be uploaded."""

    statement: dict[str, Any]
    signature: str


class PolicyIn(Strict):
    """Who a deployment targets (empty lists mean "any"); ids in lists match exactly."""

    app_version: Range | None = Field(None, description="PEP 440 range, e.g. '>=2.3,<3'")
    os: list[Name] = Field(default_factory=list)
    os_version: Range | None = None
    models: list[Name] = Field(default_factory=list)
    tiers: list[Name] = Field(default_factory=list)
    regions: list[Name] = Field(default_factory=list)
    allow: list[Name] = Field(default_factory=list, description="device or user ids: always in")
    deny: list[Name] = Field(default_factory=list, description="device or user ids: never in")


class StageIn(Strict):
    """One stage: a percentage of the matching devices, held ``hold_s`` seconds if set."""

    percent: float = Field(gt=0, le=100)
    hold_s: float | None = Field(None, ge=0, description="seconds; None = advance by command")


class DeploymentIn(Strict):
    """Start deploying a published version."""

    task: Name
    version: Name
    policy: PolicyIn | None = None
    stages: list[Annotated[float, Field(gt=0, le=100)] | StageIn] | None = Field(
        None, min_length=1, max_length=100,
        description='percentages or {"percent": p, "hold_s": s}; default 1, 10, 50, 100',
    )
    fail_threshold: float = Field(0.2, gt=0, le=1,
                                  description="pause when the failure rate is surely above this")
    min_reports: int = Field(20, ge=1, le=1_000_000,
                             description="reports needed before the failure rate counts")
    salt: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        None, description="bucket salt (random if absent)")


class RollbackIn(Strict):
    """Optionally a publisher-signed rollback statement; else the service signs one."""

    statement: dict[str, Any] | None = None
    signature: str | None = None


class RegisterIn(Strict):
    """A device registering; the attributes it claims are kept for the operator to review."""

    device_id: Annotated[str, StringConstraints(pattern=DEVICE_ID_PATTERN)] | None = None
    attrs: dict[str, Any] = Field(
        default_factory=dict,
        description="claimed: app_version, os, os_version, model, tier, region, user_id",
    )


class DeviceAttrs(Strict):
    """The attributes policies match, as the operator approves them."""

    app_version: Range | None = None
    os: Name | None = None
    os_version: Range | None = None
    model: Name | None = None
    tier: Name | None = None
    region: Name | None = None
    user_id: Name | None = None


class AcceptIn(Strict):
    """Accept devices: with ``attrs`` (the operator's), or their claimed ones if absent."""

    ids: list[Annotated[str, StringConstraints(pattern=DEVICE_ID_PATTERN)]] = Field(
        default_factory=list, max_length=100_000)
    all_pending: bool = Field(False, description="accept every pending device")
    attrs: DeviceAttrs | None = None


class Report(Strict):
    """One status change of a device for a deployment."""

    deployment: int
    state: Literal["downloaded", "installed", "failed"]
    detail: str = Field("", max_length=4000)
    ts: float | None = None


class StatusIn(Strict):
    """A batch of status reports (resent until acknowledged; idempotent)."""

    reports: list[Report] = Field(max_length=1000)
