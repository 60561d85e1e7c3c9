"""Bundle downloads: plain HTTP with a strong ETag and byte ranges.

Bundles are content addressed, so the ETag is the hash and the response never changes;
that is what lets any HTTP cache or CDN serve them, and lets a device resume a download
with ``Range`` + ``If-Range``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from .blobs import check_sha
from .errors import AuthError, NotFoundError

router = APIRouter(tags=["bundles"])
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 256 << 10


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """Inclusive (start, end) of a single-range header, None for the whole body."""
    m = _RANGE_RE.match(header or "")
    if not m or (not m.group(1) and not m.group(2)):
        return None
    if not m.group(1):  # suffix form: the last N bytes
        n = int(m.group(2))
        return max(0, size - n), size - 1
    start = int(m.group(1))
    end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
    return start, end


async def _authorize(request: Request, sha256: str) -> None:
    st = request.app.state
    if st.config.public_bundles:
        return
    header = request.headers.get("authorization")
    try:
        st.auth.publisher(header)
        return
    except AuthError:
        pass
    device_id, _ = await st.auth.device(header)
    if not await st.store.device_has_bundle(device_id, sha256):
        raise NotFoundError(f"bundle {sha256} is not deployed to device {device_id}")


@router.get("/bundles/{sha256}")
async def get_bundle(sha256: str, request: Request) -> Any:
    """A bundle's bytes; supports If-None-Match, Range and If-Range.

    A large body is streamed from the file in chunks and a small one comes from the
    bounded cache, so the service's memory stays the same however large the bundle and
    however many devices download it at once.
    """
    st = request.app.state
    check_sha(sha256)
    await _authorize(request, sha256)
    etag = f'"{sha256}"'
    cache = "public" if st.config.public_bundles else "private"
    headers = {"ETag": etag, "Accept-Ranges": "bytes",
               "Cache-Control": f"{cache}, max-age=31536000, immutable"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    path = st.blobs.path(sha256)
    size = st.blobs.size(sha256)
    rng = _range(request.headers.get("range"), size)
    if_range = request.headers.get("if-range")
    if rng is not None and if_range is not None and if_range != etag:
        rng = None  # the client holds bytes of another bundle: send it all
    status, start, end = 200, 0, size - 1
    if rng is not None:
        start, end = rng
        if start >= size or start > end:
            return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        st.metrics["bundle_range_requests"] += 1
    st.metrics["bundle_requests"] += 1
    headers["Content-Length"] = str(end - start + 1)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers)
    small = st.blobs.cached(sha256, size)
    if small is not None:  # one hot bundle shared by every download: no copy per request
        st.metrics["bundle_bytes"] += end - start + 1
        body = small if (start, end) == (0, size - 1) else small[start : end + 1]
        return Response(body, status_code=status, headers=headers,
                        media_type="application/octet-stream")
    return StreamingResponse(_chunks(path, start, end + 1, st.metrics), status_code=status,
                             headers=headers, media_type="application/octet-stream")


async def _chunks(path: Path, start: int, stop: int, metrics: Any) -> AsyncIterator[bytes]:
    """The bytes ``[start, stop)`` of a file, read in a worker thread 256 KiB at a time."""
    async with await anyio.open_file(path, "rb") as fh:
        await fh.seek(start)
        left = stop - start
        while left > 0:
            chunk = await fh.read(min(CHUNK, left))
            if not chunk:
                raise OSError(f"{path.name} ended {left} bytes early")  # truncated on disk
            left -= len(chunk)
            metrics["bundle_bytes"] += len(chunk)
            yield chunk


# HEAD answers the same headers; kept out of the schema so the operation id stays unique.
router.add_api_route("/bundles/{sha256}", get_bundle, methods=["HEAD"], include_in_schema=False)
