"""Uplink of results to the cloud collector: batched, compressed, at least once.

A background thread reads the store's outbox in sequence order, sends a batch as one
zlib-compressed JSON POST, and deletes the batch from the outbox only after the collector
answered 2xx (it stores ``(device, seq)`` once, so a resend after a lost answer is harmless).
While the collector is unreachable it retries with exponential back-off and jitter, up to
``max_backoff`` seconds; results wait in the store meanwhile (bounded by retention).
"""

from __future__ import annotations

import json
import random
import threading
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass, field
from typing import Any

from .store import Store


@dataclass
class UplinkStats:
    """Counters of the uplink (bytes are the compressed request bodies)."""

    batches: int = 0
    results: int = 0
    bytes_sent: int = 0
    bytes_raw: int = 0
    failures: int = 0
    last_error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def encode_batch(device_id: str, rows: list[tuple[int, str, str, float, str]]) -> bytes:
    """The request body: the rows' stored JSON is spliced in, not decoded and re-encoded."""
    parts = [f'{{"seq":{seq},"key":{json.dumps(key)},"kind":{json.dumps(kind)},'
             f'"ts":{ts!r},"data":{data}}}' for seq, key, kind, ts, data in rows]
    return (f'{{"device":{json.dumps(device_id)},"results":[' + ",".join(parts) + "]}").encode()


class Uplink:
    """Sends the outbox of ``store`` to ``url`` as device ``device_id``."""

    def __init__(self, store: Store, url: str, device_id: str, batch_size: int = 500,
                 interval: float = 1.0, timeout: float = 5.0, min_backoff: float = 0.2,
                 max_backoff: float = 60.0, seed: int | None = None) -> None:
        self.store, self.url, self.device_id = store, url, device_id
        self.batch_size, self.interval, self.timeout = batch_size, interval, timeout
        self.min_backoff, self.max_backoff = min_backoff, max_backoff
        self.stats = UplinkStats()
        self._rng = random.Random(seed)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="walle-uplink", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def notify(self) -> None:
        """New results were committed: send soon."""
        self._wake.set()

    def _loop(self) -> None:
        backoff = self.min_backoff
        while not self._stop.is_set():
            rows = self.store.outbox(self.batch_size)
            if not rows:
                self._wake.wait(self.interval)
                self._wake.clear()
                continue
            if self.send(rows):
                backoff = self.min_backoff
                continue
            # full jitter keeps a fleet of devices from retrying in lock-step
            self._stop.wait(self._rng.uniform(backoff / 2, backoff))
            backoff = min(backoff * 2, self.max_backoff)

    def send(self, rows: list[tuple[int, str, str, float, str]]) -> bool:
        """POST one batch; on success remove it from the outbox.  True when acknowledged."""
        raw = encode_batch(self.device_id, rows)
        body = zlib.compress(raw, 6)
        req = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json", "Content-Encoding": "deflate",
            "X-Walle-Device": self.device_id})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                resp.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            self.stats.failures += 1
            self.stats.last_error = str(exc)
            return False
        self.store.ack(r[0] for r in rows)
        s = self.stats
        s.batches, s.results = s.batches + 1, s.results + len(rows)
        s.bytes_sent, s.bytes_raw = s.bytes_sent + len(body), s.bytes_raw + len(raw)
        return True

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
