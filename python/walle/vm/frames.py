"""Length-prefixed frames over a pipe: how a guest sends results to the host.

A frame is an 8-byte little-endian length and that many bytes.  A zero-length frame
ends a conversation; the host writes it itself once the guest's script returned, so the
reader never waits for a guest that crashed before writing.
"""

from __future__ import annotations

import os
import struct

_HEADER = struct.Struct("<Q")


def write_frame(fd: int, data: bytes) -> None:
    """Write one whole frame (blocking; pipes accept partial writes, so loop)."""
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exact(fd: int, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("result pipe closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_until_end(fd: int) -> bytes | None:
    """Read frames up to the zero-length end frame; return the last data frame, if any."""
    last = None
    while True:
        (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size))
        if size == 0:
            return last
        last = _read_exact(fd, size)


def read_frame(fd: int) -> bytes:
    """Read one frame; EOFError if the writer closed the pipe first."""
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size))
    return _read_exact(fd, size)
