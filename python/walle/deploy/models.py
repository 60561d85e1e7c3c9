"""Request bodies of the HTTP API (they also document it in the OpenAPI description)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ReleaseIn(BaseModel):
    """A signed release statement; the bundle must already be uploaded."""

    statement: dict[str, Any]
    signature: str


class DeploymentIn(BaseModel):
    """Start deploying a published version."""

    task: str
    version: str
    policy: dict[str, Any] | None = Field(
        None, description="app_version, os, os_version, models, tiers, regions, allow, deny"
    )
    stages: list[Any] | None = Field(
        None, description='percentages or {"percent": p, "hold_s": s}; default 1, 10, 50, 100'
    )
    fail_threshold: float = Field(0.2, description="pause when failed/(installed+failed) > this")
    min_reports: int = Field(10, description="reports needed before the failure rate counts")
    salt: str | None = Field(None, description="bucket salt (random if absent)")


class RollbackIn(BaseModel):
    """Optionally a publisher-signed rollback statement; else the service signs one."""

    statement: dict[str, Any] | None = None
    signature: str | None = None


class RegisterIn(BaseModel):
    """A device registering with its attributes."""

    device_id: str | None = Field(None, max_length=100)
    attrs: dict[str, Any] = Field(
        default_factory=dict,
        description="app_version, os, os_version, model, tier, region, user_id",
    )


class Report(BaseModel):
    """One status change of a device for a deployment."""

    deployment: int
    state: Literal["downloaded", "installed", "failed"]
    detail: str = ""
    ts: float | None = None


class StatusIn(BaseModel):
    """A batch of status reports (resent until acknowledged; idempotent)."""

    reports: list[Report] = Field(max_length=1000)
