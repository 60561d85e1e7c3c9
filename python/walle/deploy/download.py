"""Resumable bundle download over plain HTTP (Range + If-Range), verified by sha256.

Bytes go to ``<sha256>.part`` first; a later attempt asks only for the missing tail, and
``If-Range`` makes the server send the whole body instead if the ETag ever differs.
Only a file whose sha256 and size match the signed statement becomes ``.bundle``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import aiohttp

from .errors import BundleError, ServerError


async def download(
    session: aiohttp.ClientSession,
    url: str,
    dest_dir: Path,
    sha256: str,
    size: int,
    headers: dict[str, str] | None = None,
    timeout_s: float = 300.0,
) -> Path:
    """Fetch ``url`` into ``dest_dir/<sha256>.bundle`` and return its path.

    Raises :class:`BundleError` when the bytes do not hash to ``sha256`` (the partial
    file is deleted, so the next attempt starts clean) and lets network errors
    propagate with the partial file kept for resuming.
    """
    final = dest_dir / f"{sha256}.bundle"
    if final.exists():
        return final
    dest_dir.mkdir(parents=True, exist_ok=True)
    part = dest_dir / f"{sha256}.part"
    have = part.stat().st_size if part.exists() else 0
    if have > size:
        part.unlink()
        have = 0
    hdrs = dict(headers or {})
    if 0 < have < size:
        hdrs["Range"] = f"bytes={have}-"
        hdrs["If-Range"] = f'"{sha256}"'
    # hash as the bytes arrive (plus what a previous attempt left) instead of re-reading
    h, n = _sha256(part) if have else (hashlib.sha256(), 0)
    if have < size:
        timeout = aiohttp.ClientTimeout(total=timeout_s, sock_read=60)
        async with session.get(url, headers=hdrs, timeout=timeout) as resp:
            if resp.status not in (200, 206):
                raise ServerError(resp.status, f"GET {url}: {(await resp.text())[:200]}")
            if resp.status == 200:  # the server ignored the range: start over
                h, n = hashlib.sha256(), 0
            # Plain file writes: 256 KiB to local disk is brief, and a thread hop per
            # chunk would cost more than it saves.
            with open(part, "ab" if resp.status == 206 else "wb") as out:  # noqa: ASYNC230
                async for chunk in resp.content.iter_chunked(1 << 18):
                    out.write(chunk)
                    h.update(chunk)
                    n += len(chunk)
                    if n > size:
                        break  # more bytes than signed for: stop, the hash check below fails
    got = h.hexdigest()
    if got != sha256 or n != size:
        part.unlink(missing_ok=True)
        raise BundleError(
            f"bundle tampered: sha256 mismatch for {url}: got {got} ({n} bytes), "
            f"signed {sha256} ({size} bytes)"
        )
    os.replace(part, final)
    return final


def _sha256(path: Path) -> tuple[Any, int]:
    h, n = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            n += len(chunk)
    return h, n
