"""Moving inputs, outputs and task configs between interpreters without numpy.

Sub-interpreters share no objects, so values cross as bytes.  Two formats, chosen per
value by the sender (the first byte says which):

* ``M`` (fast path): plain data -- None, bool, int, float, complex, str, bytes and lists,
  tuples, dicts, sets of them -- goes through :mod:`marshal`, which is built into every
  interpreter, so a sub-interpreter imports nothing for it (pickle pulls in ``re`` and
  friends).  Every buffer-protocol object (numpy array, ``walle.Tensor``, memoryview) is
  cut out of the tree, replaced by ``...`` and sent beside it as (format, shape, bytes); a
  parallel list says which ``...`` were real Ellipsis values, so the format is
  unambiguous.  Shared references are not preserved (a list sent twice arrives as two).
* ``P`` (fallback): anything else (class instances, bytearray, TOML datetimes, cycles)
  goes through :mod:`walle.vm.picklecodec`, imported only when needed.

A guest (sub-interpreter) receives buffers as ``memoryview`` objects with ``.shape``,
``.format`` and ``.tolist()`` that any buffer-protocol API (``Session.run``) accepts; the
host gets numpy arrays back when numpy is importable there.
"""

from __future__ import annotations

import marshal
import sys
from collections.abc import Callable

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs every sub-interpreter ~0.6 MiB
    from typing import Any

_FAST, _PICKLED = b"M", b"P"
_SCALARS = frozenset({type(None), bool, int, float, complex, str, bytes})
_NATIVE_PREFIXES = ("@", "=", "<" if sys.byteorder == "little" else ">")

Hole = tuple[str, tuple[int, ...], bytes] | None  # a cut-out buffer, or None for a real "..."
if TYPE_CHECKING:
    MakeBuffer = Callable[[str, tuple[int, ...], bytes], Any]


class _NotPlain(Exception):
    """The value holds something marshal cannot carry; use the pickle fallback."""


def native_format(fmt: str) -> str:
    """``memoryview.cast`` only accepts native single-character formats."""
    if len(fmt) == 2 and fmt[0] in _NATIVE_PREFIXES:
        return fmt[1]
    return fmt


def buffer_parts(obj: Any) -> tuple[str, tuple[int, ...], bytes] | None:
    """(format, shape, raw bytes) of a buffer-protocol object, else None."""
    try:
        view = memoryview(obj)
    except TypeError:
        return None
    return native_format(view.format), tuple(view.shape or ()), view.tobytes()


def _strip(value: Any, holes: list[Hole]) -> Any:
    """Copy of ``value`` with buffers replaced by ``...`` (recorded in ``holes``)."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is list or kind is tuple:
        if set(map(type, value)) <= _SCALARS:  # common flat case: no per-item Python work
            return value
        items = [_strip(item, holes) for item in value]
        return items if kind is list else tuple(items)
    if kind is dict:
        if not set(map(type, value)) <= _SCALARS:
            raise _NotPlain  # keys are restored as sent; only plain keys keep the order simple
        return {key: _strip(item, holes) for key, item in value.items()}
    if kind is set or kind is frozenset:
        if set(map(type, value)) <= _SCALARS:
            return value
        raise _NotPlain
    if value is Ellipsis:
        holes.append(None)
        return value
    if kind is bytearray:
        raise _NotPlain  # marshal would turn it into bytes
    parts = buffer_parts(value)
    if parts is None:
        raise _NotPlain
    holes.append(parts)
    return ...


def _fill(value: Any, holes: list[Hole], make: MakeBuffer) -> Any:
    """Inverse of :func:`_strip`; ``holes`` is consumed from the end (it was reversed)."""
    kind = type(value)
    if value is Ellipsis:
        hole = holes.pop()
        return value if hole is None else make(*hole)
    if kind is list or kind is tuple:
        if ... not in value and not any(type(item) in (list, tuple, dict) for item in value):
            return value
        items = [_fill(item, holes, make) for item in value]
        return items if kind is list else tuple(items)
    if kind is dict:
        return {key: _fill(item, holes, make) for key, item in value.items()}
    return value


def as_memoryview(fmt: str, shape: tuple[int, ...], data: bytes) -> memoryview:
    """A writable memoryview with the sender's format and shape (no numpy needed)."""
    view = memoryview(bytearray(data))
    if fmt == "B" and len(shape) <= 1 and (not shape or shape[0] == len(data)):
        return view if shape else view.cast("B", [])
    if 0 in shape:  # memoryview cannot express empty multi-dimensional views
        return view.cast(fmt)
    return view.cast(fmt, list(shape))


def as_numpy(fmt: str, shape: tuple[int, ...], data: bytes) -> Any:
    """A writable numpy array with the sender's dtype and shape."""
    import numpy as np

    return np.frombuffer(bytearray(data), dtype=np.dtype(fmt)).reshape(shape)


def dumps(value: Any, *, guest: bool = False) -> bytes:
    """Serialize ``value``; buffer-protocol objects are sent as raw typed bytes.

    ``guest=True`` when called inside a sub-interpreter (selects a safe pickler if the
    pickle fallback is needed).
    """
    holes: list[Hole] = []
    try:
        tree = _strip(value, holes)
        return _FAST + marshal.dumps((tree, holes))
    except (_NotPlain, RecursionError, ValueError):
        from . import picklecodec

        return _PICKLED + picklecodec.dumps(value, guest=guest)


def loads(data: bytes, *, use_numpy: bool | Callable[[], bool] | None = None) -> Any:
    """Deserialize; buffers become numpy arrays if ``use_numpy`` (default: numpy already
    imported in this interpreter; a callable is asked once, at the first buffer), else
    memoryviews."""
    if use_numpy is None:
        use_numpy = "numpy" in sys.modules
    if callable(use_numpy):
        ask, chosen = use_numpy, []

        def make(fmt: str, shape: tuple[int, ...], raw: bytes) -> Any:
            if not chosen:
                chosen.append(as_numpy if ask() else as_memoryview)
            return chosen[0](fmt, shape, raw)

        return _loads(data, make)
    return _loads(data, as_numpy if use_numpy else as_memoryview)


def _loads(data: bytes, make: MakeBuffer) -> Any:
    tag, body = data[:1], memoryview(data)[1:]
    if tag == _PICKLED:
        from . import picklecodec

        return picklecodec.loads(body, make)
    if tag != _FAST:
        raise ValueError(f"walle.vm.codec: unknown format tag {tag!r}")
    tree, holes = marshal.loads(body)
    if not holes:
        return tree
    holes.reverse()
    return _fill(tree, holes, make)
