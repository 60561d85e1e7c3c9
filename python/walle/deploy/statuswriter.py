"""Group commit of device status reports.

Thousands of devices report within seconds of each other during a rollout.  One
transaction per report would make the database the bottleneck, so reports are queued
and written in batches; each caller is answered only after its batch has committed, so
an acknowledged report is never lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .store import Store

log = logging.getLogger("walle.deploy.status")

Batch = list[dict[str, Any]]


class StatusWriter:
    """Queues reports and commits them in batches of up to ``max_batch``."""

    def __init__(
        self,
        store: Store,
        on_commit: Callable[[set[int]], Awaitable[None]],
        max_batch: int = 2000,
    ) -> None:
        self._store = store
        self._on_commit = on_commit
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[Batch, asyncio.Future[None] | None]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        """Start the writer task on the running loop."""
        self._task = asyncio.create_task(self._run(), name="status-writer")

    async def stop(self) -> None:
        """Commit what is queued, then stop.

        The writer is asked to finish rather than cancelled: cancelling it inside a
        database transaction would leave a pooled connection half-used.
        """
        if self._task is None:
            return
        self._stopping = True
        await self._queue.put(([], None))  # wake the loop so it sees the stop request
        try:
            await asyncio.wait_for(self._task, 30)
        except TimeoutError:
            log.error("status writer did not stop within 30 s")
        self._task = None

    async def submit(self, reports: Batch) -> None:
        """Queue reports and wait until they are committed (raises if the write failed)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put((reports, fut))
        await fut

    def submit_nowait(self, reports: Batch) -> None:
        """Queue server-side facts (e.g. "notified") without waiting for the commit."""
        self._queue.put_nowait((reports, None))

    async def _run(self) -> None:
        while not (self._stopping and self._queue.empty()):
            first = await self._queue.get()
            await self._write([first, *self._take(self._max_batch)])

    def _take(self, limit: int) -> list[tuple[Batch, asyncio.Future[None] | None]]:
        items = []
        count = 0
        while count < limit and not self._queue.empty():
            item = self._queue.get_nowait()
            items.append(item)
            count += len(item[0])
        return items

    async def _write(self, items: list[tuple[Batch, asyncio.Future[None] | None]]) -> None:
        reports = [r for batch, _ in items for r in batch]
        try:
            touched = await self._store.apply(reports) if reports else set()
        except Exception as exc:
            log.exception("status batch of %d reports failed", len(reports))
            for _, fut in items:
                if fut is not None and not fut.done():
                    fut.set_exception(exc)
            return
        for _, fut in items:
            if fut is not None and not fut.done():
                fut.set_result(None)
        if touched:
            try:
                await self._on_commit(touched)
            except Exception:  # auto-pause is re-checked on the next batch
                log.exception("post-commit check failed")
