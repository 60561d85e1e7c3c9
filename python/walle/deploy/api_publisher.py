"""Publisher and operator endpoints: bundles, releases, deployments and their actions."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request

from .auth import bearer, token_hash
from .errors import PolicyError
from .models import AcceptIn, DeploymentIn, ReleaseIn, RollbackIn

router = APIRouter(prefix="/api/v1", tags=["publisher"])


def _ctx(request: Request) -> Any:
    state = request.app.state
    state.auth.publisher(request.headers.get("authorization"))
    return state


async def _audit(request: Request, action: str, target: str, detail: Any = "") -> None:
    """Record an operator action; the actor is named by its token's hash prefix."""
    actor = "publisher:" + token_hash(bearer(request.headers.get("authorization")))[:8]
    text = detail if isinstance(detail, str) else json.dumps(detail, sort_keys=True)
    await request.app.state.store.audit(actor, action, target, text)


@router.put("/blobs/{sha256}", status_code=201)
async def put_blob(sha256: str, request: Request) -> dict[str, Any]:
    """Upload a bundle archive under its sha256 (checked while storing)."""
    st = _ctx(request)
    size = await st.blobs.put(sha256, request.stream(), st.config.max_bundle_bytes)
    await st.store.add_blob(sha256, size)
    await _audit(request, "upload", f"blob {sha256}", f"{size} bytes")
    return {"sha256": sha256, "size": size}


@router.post("/releases", status_code=201)
async def publish(body: ReleaseIn, request: Request) -> dict[str, Any]:
    """Publish a signed release of an uploaded bundle."""
    out = await _ctx(request).rollout.publish(body.statement, body.signature)
    await _audit(request, "publish", f"{out['task']} {out['version']}", out)
    return out


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
    policy = body.policy.model_dump() if body.policy is not None else None
    stages = None if body.stages is None else [
        s if isinstance(s, float | int) else s.model_dump() for s in body.stages]
    out = await _ctx(request).rollout.create(
        body.task, body.version, policy, stages, body.fail_threshold, body.min_reports, body.salt,
    )
    await _audit(request, "create", f"deployment {out['id']}", body.model_dump())
    return out


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
    out = await _ctx(request).rollout.advance(dep_id)
    await _audit(request, "advance", f"deployment {dep_id}")
    return out


@router.post("/deployments/{dep_id}/pause")
async def pause(dep_id: int, request: Request) -> dict[str, Any]:
    """Pause a deployment (no new devices are notified)."""
    out = await _ctx(request).rollout.pause(dep_id)
    await _audit(request, "pause", f"deployment {dep_id}")
    return out


@router.post("/deployments/{dep_id}/resume")
async def resume(dep_id: int, request: Request) -> dict[str, Any]:
    """Resume a paused deployment."""
    out = await _ctx(request).rollout.resume(dep_id)
    await _audit(request, "resume", f"deployment {dep_id}")
    return out


@router.post("/deployments/{dep_id}/rollback")
async def rollback(dep_id: int, request: Request, body: RollbackIn | None = None) -> dict[str, Any]:
    """Roll a deployment's devices back to the previous version (signed rollback)."""
    body = body or RollbackIn()
    out = await _ctx(request).rollout.rollback(dep_id, body.statement, body.signature)
    signer = "publisher" if body.statement is not None else "service"
    await _audit(request, "rollback", f"deployment {dep_id}",
                 f"rollback deployment {out['id']} to {out['version']} signed by the {signer}")
    return out


@router.get("/devices/count")
async def device_count(request: Request) -> dict[str, int]:
    """Registered and currently connected devices."""
    st = _ctx(request)
    return {"registered": await st.store.device_count(), "connected": len(st.rollout.hub)}


@router.get("/counters")
async def counters(request: Request) -> dict[str, Any]:
    """Request and byte counters of this instance since start (Prometheus: ``/metrics``)."""
    st = _ctx(request)
    return dict(st.metrics, connected=len(st.rollout.hub))


@router.get("/info")
async def info(request: Request) -> dict[str, Any]:
    """What this service can do: whether it signs rollbacks itself (``--signing-key``)."""
    st = _ctx(request)
    return {"signs_rollbacks": st.rollout.signing_key is not None}


@router.get("/devices")
async def list_devices(request: Request, state: str | None = None,
                       limit: int = 1000) -> list[dict[str, Any]]:
    """Registered devices: state (pending, accepted, revoked), approved and claimed attrs."""
    if state not in (None, "pending", "accepted", "revoked"):
        raise PolicyError(f"state {state!r} is not pending, accepted or revoked")
    return await _ctx(request).store.list_devices(state, max(1, min(limit, 100_000)))


@router.get("/devices/failing")
async def failing_devices(request: Request, limit: int = 100) -> list[dict[str, Any]]:
    """Devices whose latest install of a deployment failed, with the error text."""
    return await _ctx(request).store.failing(max(1, min(limit, 10_000)))


@router.get("/devices/{device_id}")
async def device_detail(device_id: str, request: Request) -> dict[str, Any]:
    """One device: registry row, connection, status history and last error."""
    st = _ctx(request)
    row = await st.store.device_by_id(device_id)
    if row is None:
        from .errors import NotFoundError

        raise NotFoundError(f"device {device_id!r} is not registered")
    history = await st.store.history(device_id)
    last_error = next((h for h in history if h["state"] == "failed"), None)
    row.pop("token_hash", None)
    return dict(row, connected=st.rollout.hub.connected(device_id), history=history,
                last_error=last_error)


@router.post("/devices/accept")
async def accept_devices(body: AcceptIn, request: Request) -> dict[str, Any]:
    """Accept devices: policies then match the given attrs (else what each device claimed)."""
    st = _ctx(request)
    ids = list(body.ids) + (await st.store.pending_ids() if body.all_pending else [])
    attrs = None if body.attrs is None else body.attrs.model_dump(exclude_none=True)
    changed = await st.store.set_devices(ids, "accepted", attrs) if ids else []
    st.auth.forget(set(changed))
    await st.rollout.bus.publish_devices(changed)
    await _audit(request, "accept", f"{len(changed)} device(s)",
                 {"ids": changed[:100], "attrs": attrs})
    await st.rollout.push_desired(changed)
    return {"accepted": len(changed)}


@router.post("/devices/{device_id}/revoke")
async def revoke_device(device_id: str, request: Request) -> dict[str, Any]:
    """Revoke a device's credential; its connection is closed."""
    st = _ctx(request)
    await st.store.set_devices([device_id], "revoked")
    st.auth.forget({device_id})
    await st.rollout.bus.publish_devices([device_id])
    await st.rollout.hub.close(device_id)
    await _audit(request, "revoke", f"device {device_id}")
    return {"revoked": device_id}


@router.get("/audit")
async def audit(request: Request, limit: int = 200) -> list[dict[str, Any]]:
    """Operator actions, newest first."""
    return await _ctx(request).store.audit_entries(max(1, min(limit, 10_000)))
