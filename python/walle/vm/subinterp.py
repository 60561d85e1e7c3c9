"""The few sub-interpreter primitives the VM needs, over CPython's private modules.

3.12 ships ``_xxsubinterpreters``; 3.13 renamed it ``_interpreters`` and changed some
signatures.  Both are private, so everything version-specific is kept in this one file.
Interpreters are created "isolated": own GIL (PEP 684), own allocator, no fork/exec,
threads allowed.  Results come back over an OS pipe, not the private channel modules:
on 3.12.1 a bytes object sent through ``_xxinterpchannels`` is freed with the wrong
allocator after its interpreter is destroyed ("double free or corruption" at exit).
"""

from __future__ import annotations

import sys
from typing import Any

AVAILABLE = sys.version_info >= (3, 12)
UNAVAILABLE_REASON = (
    "mode='interpreter' needs CPython 3.12+ (per-interpreter GIL, PEP 684); "
    f"this is {sys.version_info.major}.{sys.version_info.minor}"
)

if sys.version_info >= (3, 13):
    import _interpreters as _interp
elif AVAILABLE:
    import _xxsubinterpreters as _interp
else:  # pragma: no cover - guarded by AVAILABLE
    _interp = None


class GuestCrashed(Exception):
    """Code run in a sub-interpreter raised out of the VM's guest harness."""


def create() -> Any:
    """Create an isolated interpreter with its own GIL and return its id object.

    Keep the returned object: on 3.12 the interpreter is destroyed when its last
    InterpreterID object is released.
    """
    if sys.version_info >= (3, 13):
        return _interp.create("isolated")
    return _interp.create(isolated=True)


def run(interp_id: Any, script: str, shared: dict[str, Any] | None = None) -> None:
    """Run ``script`` in the interpreter on the calling thread (blocks until done).

    ``shared`` values must be str, bytes, int or None (copied into the interpreter's
    ``__main__``).  Raises :class:`GuestCrashed` with the guest traceback if it raised.
    """
    if sys.version_info >= (3, 13):
        failure = _interp.run_string(interp_id, script, shared)
        if failure is not None:
            raise GuestCrashed(failure.errdisplay or failure.formatted)
        return
    try:
        _interp.run_string(interp_id, script, shared)
    except _interp.RunFailedError as exc:
        raise GuestCrashed(str(exc)) from None


def destroy(interp_id: Any) -> None:
    """Destroy an interpreter that no thread is running."""
    _interp.destroy(interp_id)


def is_running(interp_id: Any) -> bool:
    return bool(_interp.is_running(interp_id))
