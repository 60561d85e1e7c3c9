"""Publisher and operator endpoints: bundles, releases, deployments and their actions."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request

from .models import DeploymentIn, ReleaseIn, RollbackIn

router = APIRouter(prefix="/api/v1", tags=["publisher"])


def _ctx(request: Request) -> Any:
    state = request.app.state
    state.auth.publisher(request.headers.get("authorization"))
    return state


@router.put("/blobs/{sha256}", status_code=201)
async def put_blob(sha256: str, request: Request) -> dict[str, Any]:
    """Upload a bundle archive under its sha256 (checked while storing)."""
    st = _ctx(request)
    size = await st.blobs.put(sha256, request.stream(), st.config.max_bundle_bytes)
    await st.store.add_blob(sha256, size)
    return {"sha256": sha256, "size": size}


@router.post("/releases", status_code=201)
async def publish(body: ReleaseIn, request: Request) -> dict[str, Any]:
    """Publish a signed release of an uploaded bundle."""
    return await _ctx(request).rollout.publish(body.statement, body.signature)


@router.get("/releases")
async def list_releases(request: Request, task: str | None = None) -> list[dict[str, Any]]:
    """Published releases, newest first."""
    rows = await _ctx(request).store.releases(task)
    return [{k: r[k] for k in ("id", "task", "version", "bundle_sha256", "bundle_size",
                               "created_at")} for r in rows]


@router.get("/releases/{release_id}/statement")
async def release_statement(release_id: int, request: Request) -> dict[str, Any]:
    """The signed statement of a release (what devices verify)."""
    rel = await _ctx(request).store.release_by_id(release_id)
    return dict(json.loads(rel["statement"]), signature=rel["signature"])


@router.post("/deployments", status_code=201)
async def create_deployment(body: DeploymentIn, request: Request) -> dict[str, Any]:
    """Start a staged deployment of a published version."""
    return await _ctx(request).rollout.create(
        body.task, body.version, body.policy, body.stages, body.fail_threshold,
        body.min_reports, body.salt,
    )


@router.get("/deployments")
async def list_deployments(request: Request) -> list[dict[str, Any]]:
    """All deployments with their stage and live counts, newest first."""
    st = _ctx(request)
    deps = await st.store.deployments()
    counts = await st.store.counts()
    return [st.rollout.describe(d, counts.get(d["id"])) for d in deps]


@router.get("/deployments/{dep_id}")
async def get_deployment(dep_id: int, request: Request) -> dict[str, Any]:
    """One deployment with its live counts."""
    return await _ctx(request).rollout.summary(dep_id)


@router.post("/deployments/{dep_id}/advance")
async def advance(dep_id: int, request: Request) -> dict[str, Any]:
    """Move a deployment to its next stage."""
    return await _ctx(request).rollout.advance(dep_id)


@router.post("/deployments/{dep_id}/pause")
async def pause(dep_id: int, request: Request) -> dict[str, Any]:
    """Pause a deployment (no new devices are notified)."""
    return await _ctx(request).rollout.pause(dep_id)


@router.post("/deployments/{dep_id}/resume")
async def resume(dep_id: int, request: Request) -> dict[str, Any]:
    """Resume a paused deployment."""
    return await _ctx(request).rollout.resume(dep_id)


@router.post("/deployments/{dep_id}/rollback")
async def rollback(dep_id: int, request: Request, body: RollbackIn | None = None) -> dict[str, Any]:
    """Roll a deployment's devices back to the previous version (signed rollback)."""
    body = body or RollbackIn()
    return await _ctx(request).rollout.rollback(dep_id, body.statement, body.signature)


@router.get("/devices/count")
async def device_count(request: Request) -> dict[str, int]:
    """Registered and currently connected devices."""
    st = _ctx(request)
    return {"registered": await st.store.device_count(), "connected": len(st.rollout.hub)}


@router.get("/metrics")
async def metrics(request: Request) -> dict[str, Any]:
    """Request and byte counters since start (for benchmarks and tests)."""
    st = _ctx(request)
    return dict(st.metrics, connected=len(st.rollout.hub))
