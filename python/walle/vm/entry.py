"""Finding and checking a task's entry function (``entry = "module:function"``).

Shared by every mode and by ``walle task check``; imports nothing heavy, so a
sub-interpreter can use it (only :func:`signature_problem` needs :mod:`inspect`).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs every sub-interpreter ~0.6 MiB
    from typing import Any


def resolve_entry(module: ModuleType, entry: str) -> Callable[..., Any]:
    """The entry function of an imported entry module; TypeError saying what is wrong."""
    module_name, _, func = entry.partition(":")
    if not hasattr(module, func):
        raise TypeError(f"entry {entry!r}: module {module_name!r} has no attribute {func!r}")
    fn = getattr(module, func)
    if not callable(fn):
        kind = type(fn).__name__
        article = "an" if kind[:1].lower() in "aeiou" else "a"
        raise TypeError(f"entry {entry!r}: {func!r} is not callable (it is {article} {kind})")
    return fn


def signature_problem(fn: Callable[..., Any], entry: str) -> str | None:
    """Why ``fn(ctx, inputs)`` cannot be called, or None (also when the signature is unknown)."""
    import inspect

    func = entry.partition(":")[2]
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None  # some builtins have no signature: only a run can tell
    try:
        signature.bind(None, None)
    except TypeError:
        return f"entry {entry!r}: {func}{signature} cannot be called as {func}(ctx, inputs)"
    return None
