"""Uplink of results to the cloud collector: batched, compressed, at least once.

A background thread reads the store's outbox in sequence order, sends a batch as one
zlib-compressed JSON POST, and deletes the batch from the outbox only after the collector
answered 2xx (it stores ``(device, seq)`` once, so a resend after a lost answer is harmless).
While the collector is unreachable it retries with exponential back-off and jitter, up to
``max_backoff`` seconds; results wait in the store meanwhile (bounded by retention).

Batches are bounded in bytes (``max_batch_bytes`` of JSON) as well as in count.  A batch the
collector refuses for good (413 "too large", 400 or 422) is split in halves
until the refused result is alone (other errors, a 404 included, are retried: they are
not the result's fault); that result can never be sent, so it is moved to the dead
letters and reported as an :class:`UplinkError` (in ``errors`` and to ``on_error``) instead
of being retried forever.
"""

from __future__ import annotations

import json
import random
import threading
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import StoreError, UplinkError
from .store import Store


@dataclass
class UplinkStats:
    """Counters of the uplink (bytes are the compressed request bodies)."""

    batches: int = 0
    results: int = 0
    bytes_sent: int = 0
    bytes_raw: int = 0
    failures: int = 0
    dead_letters: int = 0
    last_error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


Row = tuple[int, str, str, float, str]     # seq, key, kind, ts, data (JSON text)


def encode_row(row: Row, epoch: int = 0) -> str:
    """One result as JSON: the row's stored JSON data is spliced in, not re-encoded."""
    seq, key, kind, ts, data = row
    return (f'{{"seq":{seq},"epoch":{epoch},"key":{json.dumps(key)},'
            f'"kind":{json.dumps(kind)},"ts":{ts!r},"data":{data}}}')


def encode_batch(device_id: str, rows: list[Row], stream: str = "",
                 epochs: dict[int, int] | None = None) -> bytes:
    """The request body of a batch of results."""
    epochs = epochs or {}
    parts = [encode_row(r, epochs.get(r[0], 0)) for r in rows]
    return (f'{{"device":{json.dumps(device_id)},"stream":{json.dumps(stream)},"results":['
            + ",".join(parts) + "]}").encode()


class _Refused(Exception):
    """The collector refused a batch for good (a 4xx answer)."""


class Uplink:
    """Sends the outbox of ``store`` to ``url`` as device ``device_id``.

    ``batch_size`` results or ``max_batch_bytes`` bytes of JSON per POST, whichever is
    reached first; ``max_request_bytes`` is the largest compressed body sent (the collector's
    limit); ``on_error`` is called with each :class:`UplinkError`."""

    def __init__(self, store: Store, url: str, device_id: str, batch_size: int = 500,
                 interval: float = 1.0, timeout: float = 5.0, min_backoff: float = 0.2,
                 max_backoff: float = 60.0, seed: int | None = None,
                 max_batch_bytes: int = 1 << 20, max_request_bytes: int = 16 << 20,
                 on_error: Callable[[UplinkError], None] | None = None) -> None:
        self.store, self.url, self.device_id = store, url, device_id
        self.batch_size, self.interval, self.timeout = batch_size, interval, timeout
        self.min_backoff, self.max_backoff = min_backoff, max_backoff
        self.max_batch_bytes, self.max_request_bytes = max_batch_bytes, max_request_bytes
        self.on_error = on_error
        self.errors: list[UplinkError] = []
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
            try:
                rows = self.store.outbox(self.batch_size)
                if not rows:
                    self._wake.wait(self.interval)
                    self._wake.clear()
                    continue
                if self.send(rows):
                    backoff = self.min_backoff
                    continue
            except StoreError as exc:      # the store is busy or full: try again later
                self.stats.failures += 1
                self.stats.last_error = str(exc)
            # full jitter keeps a fleet of devices from retrying in lock-step
            self._stop.wait(self._rng.uniform(backoff / 2, backoff))
            backoff = min(backoff * 2, self.max_backoff)

    def _bounded(self, rows: list[Row]) -> list[Row]:
        """The longest prefix of ``rows`` within ``max_batch_bytes`` (at least one row)."""
        size = 0
        for i, row in enumerate(rows):
            size += len(row[1]) + len(row[4]) + 64
            if size > self.max_batch_bytes and i > 0:
                return rows[:i]
        return rows

    def send(self, rows: list[Row]) -> bool:
        """POST the oldest rows (as many as fit a batch); on success remove them from the
        outbox.  True when some were acknowledged or dead-lettered (progress was made)."""
        batch = self._bounded(rows)
        while True:
            try:
                self._post(batch)
                return True
            except _Refused as exc:
                if len(batch) > 1:
                    batch = batch[:len(batch) // 2]     # isolate the refused result
                    continue
                self._dead_letter(batch[0], str(exc))
                return True
            except (urllib.error.URLError, OSError, ValueError) as exc:
                self.stats.failures += 1
                self.stats.last_error = str(exc)
                return False

    def _post(self, rows: list[Row]) -> None:
        raw = encode_batch(self.device_id, rows, self.store.stream,
                           self.store.outbox_epochs([r[0] for r in rows]))
        body = zlib.compress(raw, 6)
        if len(body) > self.max_request_bytes:
            raise _Refused(f"{len(body)} bytes compressed, over the limit of "
                           f"{self.max_request_bytes}")
        req = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json", "Content-Encoding": "deflate",
            "X-Walle-Device": self.device_id})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                resp.read()
        except urllib.error.HTTPError as exc:
            # 400/413/422: this batch will never be accepted as it is.  Other answers (5xx,
            # 429, and 401/403/404: a configuration problem) are retried, never dead-lettered
            if exc.code in (400, 413, 422):
                detail = exc.read()[:200].decode(errors="replace")
                raise _Refused(f"collector answered {exc.code}: {detail}") from None
            raise
        self.store.ack(r[0] for r in rows)
        s = self.stats
        s.batches, s.results = s.batches + 1, s.results + len(rows)
        s.bytes_sent, s.bytes_raw = s.bytes_sent + len(body), s.bytes_raw + len(raw)

    def _dead_letter(self, row: Row, reason: str) -> None:
        err = UplinkError(f"result {row[1]!r} (seq {row[0]}, {len(row[4])} bytes of data) "
                          f"can never be sent: {reason}; moved to the dead letters")
        self.store.dead_letter_results([row], str(err))
        self.stats.dead_letters += 1
        self.stats.last_error = str(err)
        self.errors.append(err)
        if self.on_error is not None:
            self.on_error(err)

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
