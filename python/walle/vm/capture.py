"""Per-run capture of what a task prints, so each run's output comes back with its result.

Interpreter mode and the process tier own their interpreter's ``sys.stdout`` and
``sys.stderr``, so :class:`StreamCapture` swaps them for buffers during a run.  Thread-mode
tasks share the host's streams with every other thread, so there only ``print()`` is
captured: each task module's private builtins (:mod:`walle.vm.isolation`) hold
:func:`task_print`, which writes to the capture of the run on the calling thread.  Output
written by C code to file descriptors 1 and 2 is never captured.
"""

from __future__ import annotations

import builtins
import io
import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs every sub-interpreter ~0.6 MiB
    from typing import Any, Self

_local = threading.local()


class StreamCapture:
    """Context manager: ``sys.stdout``/``sys.stderr`` go to ``self.out``/``self.err``."""

    def __init__(self) -> None:
        self.out = io.StringIO()
        self.err = io.StringIO()
        self._saved: tuple[Any, Any] = (None, None)

    def __enter__(self) -> Self:
        self._saved = (sys.stdout, sys.stderr)
        sys.stdout, sys.stderr = self.out, self.err
        return self

    def __exit__(self, *exc: object) -> None:
        sys.stdout, sys.stderr = self._saved


class ThreadCapture:
    """Context manager: ``print()`` in task code on this thread goes to ``self.out``/``self.err``."""

    def __init__(self) -> None:
        self.out = io.StringIO()
        self.err = io.StringIO()

    def __enter__(self) -> Self:
        _local.capture = self
        return self

    def __exit__(self, *exc: object) -> None:
        _local.capture = None


def task_print(*args: Any, sep: str | None = " ", end: str | None = "\n", file: Any = None, flush: bool = False) -> None:
    """``print`` as thread-mode task code sees it: to the run's capture when one is active."""
    capture = getattr(_local, "capture", None)
    if capture is not None and (file is None or file is sys.stdout or file is sys.stderr):
        file = capture.err if file is sys.stderr else capture.out
    builtins.print(*args, sep=sep, end=end, file=file, flush=flush)
