"""Fan-out of deployment changes between service instances (PostgreSQL LISTEN/NOTIFY).

Several instances can share one PostgreSQL database; each holds the push connections of
the devices that happened to connect to it.  When one instance creates, advances,
resumes or rolls back a deployment, it targets the devices in the database and sends
``NOTIFY walle_deploy, '<instance>:<deployment>'``; every other instance LISTENs and
pushes the deployment's notice to its own connected devices.  Accepting or revoking
devices is announced the same way (``'<instance>:devices:<ids or *>'``), so every
instance drops its cached credentials of those devices.  On SQLite (one instance) the
bus does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import text

from .db import Database

log = logging.getLogger("walle.deploy.bus")
CHANNEL = "walle_deploy"


class Bus:
    """Publishes deployment changes and calls ``on_change(dep_id)`` for other instances'."""

    def __init__(self, db: Database, on_change: Callable[[int], Awaitable[None]]) -> None:
        self.db = db
        self.instance = uuid.uuid4().hex[:12]
        self._on_change = on_change
        self.on_devices: Callable[[set[str] | None], None] = lambda ids: None
        self._task: asyncio.Task[None] | None = None
        self.enabled = not db.is_sqlite

    def start(self) -> None:
        """Start listening (PostgreSQL only)."""
        if self.enabled:
            self._task = asyncio.create_task(self._listen(), name="notice-bus")

    async def stop(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def publish(self, dep_id: int) -> None:
        """Tell the other instances that deployment ``dep_id`` changed."""
        await self._notify(f"{self.instance}:{dep_id}")

    async def publish_devices(self, ids: list[str]) -> None:
        """Tell the other instances that these devices' state or attributes changed."""
        body = ",".join(ids)
        await self._notify(f"{self.instance}:devices:{body if len(body) < 4000 else '*'}")

    async def _notify(self, msg: str) -> None:
        if not self.enabled:
            return
        async with self.db.engine.begin() as conn:
            await conn.execute(text("SELECT pg_notify(:ch, :msg)"), {"ch": CHANNEL, "msg": msg})

    async def _listen(self) -> None:
        import psycopg

        url = self.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        backoff = 0.5
        while True:  # reconnect after a database restart; notices missed meanwhile are
            try:     # caught up by devices on their next connect or poll
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    backoff = 0.5
                    async for note in conn.notifies():
                        await self._handle(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep listening whatever happened
                log.warning("notice bus: %s; reconnecting in %.1f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _handle(self, payload: str) -> None:
        instance, _, dep = payload.partition(":")
        if instance == self.instance:
            return
        if dep.startswith("devices:"):
            ids = dep[len("devices:"):]
            self.on_devices(None if ids == "*" else set(ids.split(",")))
            return
        if not dep.isdigit():
            return
        try:
            await self._on_change(int(dep))
        except Exception:  # one bad change must not stop the listener
            log.exception("notice bus: applying change of deployment %s failed", dep)
