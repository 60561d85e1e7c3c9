"""Content-addressed bundle store on the local file system.

Blobs are named by their sha256, so they never change once written: any HTTP cache or
CDN can keep them forever, and a half-written upload is never visible (write to a temp
file, check the hash, rename).  Downloads stream from the file (the OS page cache keeps
a bundle that every device fetches at once in memory, outside the service's heap).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
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

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

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
