"""Live device connections and the small notices pushed over them.

Only notices (task, version, hash, signed statement: a few hundred bytes) go over these
connections; bundles are pulled over plain HTTP.  The hub is per process: running the
service with several workers would need a broadcast channel (e.g. PostgreSQL
LISTEN/NOTIFY) in front of it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Protocol

log = logging.getLogger("walle.deploy.hub")


class Sender(Protocol):
    """What the hub needs from a connection."""

    async def send_text(self, data: str) -> None: ...


class Hub:
    """Maps device id to its open connection."""

    def __init__(self) -> None:
        self._conns: dict[str, Sender] = {}

    def __len__(self) -> int:
        return len(self._conns)

    def attach(self, device_id: str, conn: Sender) -> Sender | None:
        """Register a connection; returns the one it replaces (to be closed)."""
        old = self._conns.get(device_id)
        self._conns[device_id] = conn
        return old

    def detach(self, device_id: str, conn: Sender) -> None:
        """Forget a connection, unless a newer one has replaced it."""
        if self._conns.get(device_id) is conn:
            del self._conns[device_id]

    async def close(self, device_id: str) -> None:
        """Close a device's connection (its credential was revoked)."""
        conn = self._conns.pop(device_id, None)
        if conn is not None and hasattr(conn, "close"):
            try:
                await conn.close(code=4401, reason="credential revoked")
            except Exception as exc:  # noqa: BLE001 - already dead is fine
                log.debug("closing %s: %s", device_id, exc)

    def connected(self, device_id: str) -> bool:
        """Whether the device holds a connection now."""
        return device_id in self._conns

    async def send(self, device_id: str, message: dict[str, Any]) -> bool:
        """Send one notice; False if the device is not connected or the send failed."""
        conn = self._conns.get(device_id)
        if conn is None:
            return False
        try:
            await conn.send_text(json.dumps(message))
            return True
        except Exception as exc:  # noqa: BLE001 - any dead socket: the device catches up later
            log.debug("push to %s failed: %s", device_id, exc)
            self.detach(device_id, conn)
            return False

    async def send_many(self, messages: dict[str, dict[str, Any]]) -> list[str]:
        """Send a notice to each device; returns the ids that got theirs."""
        ids = [d for d in messages if d in self._conns]
        results = await asyncio.gather(*(self.send(d, messages[d]) for d in ids))
        return [d for d, ok in zip(ids, results) if ok]
