"""Device endpoints: register, the push connection, polling, and status reports.

A device only ever sees notices for deployments it is targeted by: every device
endpoint derives the device from its own token, never from a parameter.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response, WebSocket, WebSocketDisconnect

from .errors import AuthError
from .models import RegisterIn, StatusIn

router = APIRouter(prefix="/api/v1", tags=["device"])


@router.post("/devices/register", status_code=201)
async def register(body: RegisterIn, request: Request) -> dict[str, str]:
    """Register a device (enrollment credential); returns its own token, shown once.

    The device starts *pending*: the attributes it claims are only a suggestion until
    an operator accepts it (``POST /api/v1/devices/accept``), so no device can put
    itself on an allow list or into a region.
    """
    st = request.app.state
    st.auth.enroll(request.headers.get("authorization"))
    device_id = body.device_id or uuid.uuid4().hex
    token, hashed = st.auth.new_device_token()
    await st.store.add_device(device_id, hashed, body.attrs)
    return {"device_id": device_id, "token": token}


@router.get("/device/assignments")
async def assignments(request: Request, response: Response) -> Any:
    """What this device should run (polling alternative to the push connection)."""
    st = request.app.state
    device_id, attrs = await st.auth.device(request.headers.get("authorization"))
    notices = await st.rollout.on_connect(device_id, attrs)
    body = json.dumps({"assignments": notices}, sort_keys=True)
    etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    return Response(body, media_type="application/json", headers={"ETag": etag})


@router.post("/device/status")
async def status(body: StatusIn, request: Request) -> dict[str, int]:
    """Record status reports; answered only once they are committed."""
    st = request.app.state
    device_id, _ = await st.auth.device(request.headers.get("authorization"))
    accepted = await st.rollout.report(device_id, [r.model_dump() for r in body.reports])
    st.metrics["status_reports"] += accepted
    return {"accepted": accepted}


@router.websocket("/device/connect")
async def connect(ws: WebSocket) -> None:
    """The long-lived push connection: a hello with current assignments, then notices."""
    st = ws.app.state
    try:
        device_id, attrs = await st.auth.device(ws.headers.get("authorization"))
    except AuthError:
        await ws.close(code=4401, reason="not a device credential")
        return
    await ws.accept()
    old = st.rollout.hub.attach(device_id, ws)
    if old is not None:
        await _quiet_close(old)
    try:
        notices = await st.rollout.on_connect(device_id, attrs)
        await ws.send_text(json.dumps({"type": "hello", "device": device_id,
                                       "assignments": notices}))
        while True:  # devices send nothing but keep-alives; we only wait for the close
            await ws.receive_text()
    except WebSocketDisconnect:
        pass
    finally:
        st.rollout.hub.detach(device_id, ws)


async def _quiet_close(ws: Any) -> None:
    # the old socket may already be dead; closing it is only a courtesy
    with contextlib.suppress(RuntimeError, OSError):
        await ws.close(code=4000, reason="replaced by a newer connection")
