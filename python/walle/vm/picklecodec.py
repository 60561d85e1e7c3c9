"""The pickle fallback of :mod:`walle.vm.codec`, for values marshal cannot carry.

Kept in its own module so that a sub-interpreter imports pickle (and, through it, ``re``)
only when a task actually sends such a value.  Buffer-protocol objects travel as
(format, shape, raw bytes) through pickle's persistent-id hook, so the receiving side
never needs numpy.
"""

from __future__ import annotations

import io
import pickle
import sys
from typing import Any

from .codec import buffer_parts

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .codec import MakeBuffer

_TAG = "walle.buffer"
_PLAIN = (bytes, bytearray, str, int, float, bool, type(None), list, tuple, dict)


def _buffer_id(obj: Any) -> Any:
    if isinstance(obj, _PLAIN):
        return None
    parts = buffer_parts(obj)
    return None if parts is None else (_TAG, *parts)


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj: Any) -> Any:
        return _buffer_id(obj)


class _PurePickler(pickle._Pickler):  # type: ignore[name-defined,misc]
    """The pure-Python pickler.  Used inside 3.12 sub-interpreters: there, pickling any
    container with the C ``_pickle.Pickler`` corrupts the heap, which aborts the process
    at exit ("free(): invalid pointer", seen with 3.12.1; fine on 3.13)."""

    def persistent_id(self, obj: Any) -> Any:
        return _buffer_id(obj)


_GUEST_PICKLER = _PurePickler if sys.version_info[:2] == (3, 12) else _Pickler


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, make: MakeBuffer) -> None:
        super().__init__(file)
        self._make = make

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 4 and pid[0] == _TAG):
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        _, fmt, shape, data = pid
        return self._make(fmt, shape, data)


def dumps(value: Any, *, guest: bool) -> bytes:
    """Pickle ``value`` with buffers as raw typed bytes (``guest``: in a sub-interpreter)."""
    buf = io.BytesIO()
    pickler = _GUEST_PICKLER if guest else _Pickler
    pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buf.getvalue()


def loads(data: bytes | memoryview, make: MakeBuffer) -> Any:
    """Unpickle; each buffer is rebuilt with ``make(format, shape, data)``."""
    return _Unpickler(io.BytesIO(data), make).load()
