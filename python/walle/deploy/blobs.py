"""Content-addressed bundle store on the local file system.

Blobs are named by their sha256, so they never change once written: any HTTP cache or
CDN can keep them forever, and a half-written upload is never visible (write to a temp
file, check the hash, rename).  Large blobs are streamed from the file; small ones (a
rollout sends the same bundle to every device at once) are served from a bounded
in-memory cache, so memory never grows with the number of downloads.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections import OrderedDict
from collections.abc import AsyncIterator
from pathlib import Path

from .errors import BundleError, NotFoundError

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def check_sha(sha256: str) -> str:
    """Return ``sha256`` if it is 64 lowercase hex digits, else raise."""
    if not SHA256_RE.match(sha256):
        raise BundleError(f"{sha256!r} is not a sha256 hex digest")
    return sha256


class BlobStore:
    """Immutable blobs under ``root/ab/abcdef...``."""

    def __init__(self, root: str | Path, cache_bytes: int = 64 << 20,
                 cache_item_bytes: int = 8 << 20) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_bytes, self._cache_item_bytes, self._cached = cache_bytes, cache_item_bytes, 0

    def path(self, sha256: str) -> Path:
        """Where the blob lives (whether or not it exists)."""
        check_sha(sha256)
        return self.root / sha256[:2] / sha256

    async def put(self, sha256: str, chunks: AsyncIterator[bytes], max_bytes: int) -> int:
        """Store a stream under its claimed hash; refuse it if the bytes hash differently."""
        final = self.path(sha256)
        final.parent.mkdir(exist_ok=True)
        h, size = hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise BundleError(f"upload exceeds the bundle size limit {max_bytes}")
                    h.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if h.hexdigest() != sha256:
                raise BundleError(
                    f"upload tampered or truncated: sha256 is {h.hexdigest()}, expected {sha256}"
                )
            os.replace(tmp, final)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return size

    def size(self, sha256: str) -> int:
        """The blob's size in bytes (raises :class:`NotFoundError` if it is not stored)."""
        try:
            return self.path(sha256).stat().st_size
        except FileNotFoundError as exc:
            raise NotFoundError(f"bundle {sha256} is not in the store") from exc

    def cached(self, sha256: str, size: int) -> bytes | None:
        """The bytes of a small blob from the cache (read on a miss), or None for a blob
        too large to cache, which the caller streams from :meth:`path`."""
        data = self._cache.get(sha256)
        if data is not None:
            self._cache.move_to_end(sha256)
            return data
        if size > self._cache_item_bytes:
            return None
        data = self.path(sha256).read_bytes()
        self._cache[sha256] = data
        self._cached += len(data)
        while self._cached > self._cache_bytes:
            _, old = self._cache.popitem(last=False)
            self._cached -= len(old)
        return data
