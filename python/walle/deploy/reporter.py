"""Device-side status outbox: reports are resent until the service acknowledges them.

The service answers a report only after committing it, and applying a report twice is
harmless, so "resend until 200" gives at-least-once delivery with no duplicates in
effect: no report is lost across network errors or a service restart.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import aiohttp

log = logging.getLogger("walle.deploy.reporter")


class Reporter:
    """Batches and delivers one device's status reports."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        headers: Callable[[], dict[str, str]],
        max_backoff_s: float = 10.0,
    ) -> None:
        self._session = session
        self._url = url
        self._headers = headers
        self._max_backoff = max_backoff_s
        self._pending: list[dict[str, Any]] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.sent = 0  # acknowledged reports (the benchmark checks none is lost)

    def add(self, deployment: int, state: str, detail: str = "") -> None:
        """Queue a report; it is delivered in the background."""
        self._pending.append({"deployment": deployment, "state": state, "detail": detail[:2000],
                              "ts": time.time()})
        self._idle.clear()
        self._wake.set()

    @property
    def pending(self) -> int:
        """Reports not yet acknowledged."""
        return len(self._pending)

    async def flushed(self, timeout: float) -> None:
        """Wait until every queued report is acknowledged."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    async def run(self) -> None:
        """Deliver forever (cancel to stop)."""
        backoff = 0.2
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._pending[:500]
                try:
                    timeout = aiohttp.ClientTimeout(total=30)
                    async with self._session.post(self._url, json={"reports": batch},
                                                  headers=self._headers(), timeout=timeout) as r:
                        if r.status == 200:
                            del self._pending[: len(batch)]
                            self.sent += len(batch)
                            backoff = 0.2
                            continue
                        text = await r.text()
                        if 400 <= r.status < 500 and r.status not in (408, 429):
                            log.error("status reports rejected (%s): %s", r.status, text[:300])
                            del self._pending[: len(batch)]  # resending cannot succeed
                            continue
                except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                    log.debug("status report failed, will retry: %s", exc)
                await asyncio.sleep(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, self._max_backoff)
            self._idle.set()
