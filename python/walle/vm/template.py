"""The warm template of the process tier: a small fork server.

Started once per runner as ``python -c`` (see :mod:`walle.vm.forkserver`), it imports the
engine, the model loader and the worker loop, then waits on its control socket
(SOCK_SEQPACKET).  Each request carries, as SCM_RIGHTS, the worker's end of a fresh
socket pair; the template forks, the child runs :func:`walle.vm.worker.serve` on it, and
the template answers the child's pid.  It reaps its children and reports each exit
status.  Forking from here, not from the host, keeps the host's threads and state out of
the workers, and costs a fork instead of an interpreter start plus imports.  When the
host goes away (EOF) the template kills its workers and exits.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import selectors
import signal
import socket
import struct
import sys

# template -> host: (kind, pid, exit code); kind 1 = forked, 2 = exited
REPORT = struct.Struct("<iii")
FORKED, EXITED = 1, 2


def _child(fd: int, closing: list[int]) -> None:
    code = 70
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for other in closing:
            os.close(other)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash leaves no core file behind
        from .worker import serve

        serve(fd)
        code = 0
    except BaseException:  # noqa: BLE001 - a harness failure: say so on stderr, then exit
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


def _reap(control: socket.socket, children: set[int]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)
        _report(control, children, EXITED, pid, os.waitstatus_to_exitcode(status))


def _report(control: socket.socket, children: set[int], kind: int, pid: int, code: int) -> None:
    try:
        control.send(REPORT.pack(kind, pid, code))
    except OSError:  # the host is gone: so are the workers' reasons to live
        _end(children)


def _end(children: set[int]) -> None:
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    os._exit(0)


def serve(control_fd: int, preload: list[str]) -> None:
    """The template's loop (in its own process)."""
    from .context import resolve_loader

    for spec in preload:  # "module", or "module:attr" (resolved: lazy modules import now)
        try:
            resolve_loader(spec) if ":" in spec else importlib.import_module(spec)
        except Exception:  # noqa: BLE001, S110 - a task that needs it reports the failure itself
            pass
    importlib.import_module("walle.vm.worker")
    control = socket.socket(fileno=control_fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    children: set[int] = set()
    while True:
        for key, _ in selector.select():
            if key.fileobj is not control:
                os.read(wake_r, 4096)
                _reap(control, children)
                continue
            msg, fds, _, _ = socket.recv_fds(control, 16, 1)
            if not msg:  # the host closed the control socket
                _end(children)
            pid = os.fork()
            if pid == 0:
                _child(fds[0], [control.fileno(), wake_r, wake_w])
            os.close(fds[0])
            children.add(pid)
            _report(control, children, FORKED, pid, 0)


def main() -> None:
    """``python -c`` entry: argv is (control fd, JSON sys.path, JSON preload list)."""
    fd, path, preload = int(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
    sys.path[:] = path
    serve(fd, preload)
