"""Moving inputs and outputs between interpreters without numpy.

Sub-interpreters share no objects, so values cross as bytes.  The format is pickle, except
that every buffer-protocol object (numpy array, ``walle.Tensor``, memoryview) travels as
(format, shape, raw bytes) through pickle's persistent-id hook: the receiving side never
needs numpy.  A guest (sub-interpreter) receives such values as ``memoryview`` objects with
``.shape``, ``.format`` and ``.tolist()`` that any buffer-protocol API (``Session.run``)
accepts; the host gets numpy arrays back when numpy is importable there.
"""

from __future__ import annotations

import io
import pickle
import sys
from typing import Any

_TAG = "walle.buffer"
_PLAIN = (bytes, bytearray, str, int, float, bool, type(None))
_NATIVE_PREFIXES = ("@", "=", "<" if sys.byteorder == "little" else ">")


def _native_format(fmt: str) -> str:
    # memoryview.cast only accepts native single-character formats
    if len(fmt) == 2 and fmt[0] in _NATIVE_PREFIXES:
        return fmt[1]
    return fmt


def _buffer_id(obj: Any) -> Any:
    if isinstance(obj, (*_PLAIN, list, tuple, dict)):
        return None
    try:
        view = memoryview(obj)
    except TypeError:
        return None
    return (_TAG, _native_format(view.format), tuple(view.shape or ()), view.tobytes())


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


def _as_memoryview(fmt: str, shape: tuple[int, ...], data: bytes) -> memoryview:
    view = memoryview(bytearray(data))
    if fmt == "B" and len(shape) <= 1 and (not shape or shape[0] == len(data)):
        return view if shape else view.cast("B", [])
    if 0 in shape:  # memoryview cannot express empty multi-dimensional views
        return view.cast(fmt)
    return view.cast(fmt, list(shape))


def _as_numpy(fmt: str, shape: tuple[int, ...], data: bytes) -> Any:
    import numpy as np

    return np.frombuffer(bytearray(data), dtype=np.dtype(fmt)).reshape(shape)


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, use_numpy: bool) -> None:
        super().__init__(file)
        self._make = _as_numpy if use_numpy else _as_memoryview

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 4 and pid[0] == _TAG):
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        _, fmt, shape, data = pid
        return self._make(fmt, shape, data)


def dumps(value: Any, *, guest: bool = False) -> bytes:
    """Serialize ``value``; buffer-protocol objects are sent as raw typed bytes.

    ``guest=True`` when called inside a sub-interpreter (selects a safe pickler).
    """
    buf = io.BytesIO()
    pickler = _GUEST_PICKLER if guest else _Pickler
    pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buf.getvalue()


def loads(data: bytes, *, use_numpy: bool | None = None) -> Any:
    """Deserialize; buffers become numpy arrays if ``use_numpy`` (default: numpy already
    imported in this interpreter), else memoryviews."""
    if use_numpy is None:
        use_numpy = "numpy" in sys.modules
    return _Unpickler(io.BytesIO(data), use_numpy).load()
