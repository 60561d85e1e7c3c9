"""The host's exit code, for when it must end with ``os._exit`` (interpreter mode).

A sub-interpreter still running an abandoned run cannot be destroyed, and finalizing the
host with it alive aborts on 3.12 ("remaining subinterpreters") and hangs on 3.13.  The
runner then ends the process itself at exit (see :mod:`walle.vm.runner`), and needs the
code Python would have exited with.  CPython does not expose it, so once such a run
exists, :func:`watch` asks ``sys.monitoring`` (PEP 669, per interpreter) to report a
``SystemExit`` leaving the main thread's outermost frame; an uncaught exception leaves
``sys.last_exc``.  Monitoring only PY_UNWIND costs a call per frame an exception unwinds.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

_TOOL_ID = 4  # the VM's id (sub-interpreters use it too; monitoring is per interpreter)
_state: dict[str, Any] = {"watching": False, "code": None}


def _on_unwind(code: Any, offset: int, exc: BaseException) -> None:
    main = threading.current_thread() is threading.main_thread()
    if isinstance(exc, SystemExit) and main and sys._getframe(1).f_back is None:
        _state["code"] = exc.code  # leaving the main thread's outermost frame: the exit itself


def watch() -> None:
    """Start recording how the main thread exits (idempotent; no-op before 3.12 or when
    another tool holds the id)."""
    if _state["watching"] or not hasattr(sys, "monitoring"):
        return
    mon = sys.monitoring
    try:
        mon.use_tool_id(_TOOL_ID, "walle.vm.exitcode")
    except ValueError:
        return
    mon.register_callback(_TOOL_ID, mon.events.PY_UNWIND, _on_unwind)
    mon.set_events(_TOOL_ID, mon.events.PY_UNWIND)
    _state["watching"] = True


def exit_code() -> int:
    """The code this process is exiting with, as far as can be known."""
    code = _state["code"]
    if isinstance(code, int):
        return code
    if code is not None:  # sys.exit("message"): Python prints it and exits with 1
        print(code, file=sys.stderr)
        return 1
    failed = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    return 1 if failed is not None else 0
