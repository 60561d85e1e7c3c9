"""Host side of the process tier's warm template (see :mod:`walle.vm.template`).

:class:`ForkServer` starts the template process, asks it for workers and learns how
each one ended.  :class:`WorkerProcess` is one forked worker as the host sees it: a
socket for requests, a pid for signals, and the exit status once the template reaped it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections import deque
from concurrent.futures import Future

from .errors import VMError
from .template import EXITED, FORKED, REPORT

_BOOT = "import sys, json; sys.path[:] = json.loads(sys.argv[2]); from walle.vm.template import main; main()"
_FORK_WAIT = 60.0  # seconds: the first fork waits for the template's imports


def describe_exit(code: int | None) -> str:
    """'exit code 7', 'signal SIGSEGV', or why it is unknown."""
    if code is None:
        return "an unknown exit status"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


class WorkerProcess:
    """One forked worker: ``sock`` carries frames, ``pid`` takes signals."""

    def __init__(self, server: ForkServer, pid: int, sock: socket.socket) -> None:
        self.server = server
        self.pid = pid
        self.sock = sock

    def signal(self, signum: int) -> None:
        """Send a signal unless the worker is known to have ended (its pid may be reused)."""
        if not self.server.has_exited(self.pid):
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass

    def exit_code(self, timeout: float) -> int | None:
        return self.server.exit_code(self.pid, timeout)

    def close(self) -> None:
        """Close the socket and kill the worker (idle workers hold no state worth keeping)."""
        self.sock.close()
        self.signal(signal.SIGKILL)


class ForkServer:
    """A template process with ``preload`` modules imported, forking workers on request.

    ``spares`` workers are kept forked ahead of need (refilled in the background after
    each :meth:`fork`), so that starting a task costs only importing it.
    """

    def __init__(self, preload: list[str], spares: int = 1) -> None:
        self._preload = preload
        self._spares = spares
        self._ready: deque[WorkerProcess] = deque()
        self._filling = False
        self._lock = threading.Lock()  # one fork request at a time: replies come in order
        self._cond = threading.Condition()
        self._pending: deque[Future[int]] = deque()
        self._exits: dict[int, int | None] = {}
        self._control: socket.socket | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._closed = False

    def start(self) -> None:
        """Start the template now (it imports in the background) and fork the spares."""
        with self._lock:
            self._ensure_started()
        self._refill()

    def _ensure_started(self) -> socket.socket:
        if self._closed:
            raise VMError("the process tier's fork server is closed")
        if self._control is not None:
            return self._control
        host_end, template_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = dict(os.environ, MALLOC_ARENA_MAX="2")  # fewer 64 MiB arenas under RLIMIT_AS
        paths = json.dumps([p for p in sys.path if isinstance(p, str)])
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _BOOT, str(template_end.fileno()), paths, json.dumps(self._preload)],
            pass_fds=[template_end.fileno()],
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a terminal's Ctrl-C is for the host, which then closes the tier
        )
        template_end.close()
        self._control = host_end
        threading.Thread(target=self._read_reports, args=(host_end,), name="walle-vm-forkserver", daemon=True).start()
        return host_end

    def _read_reports(self, control: socket.socket) -> None:
        while True:
            try:
                data = control.recv(REPORT.size)
            except OSError:
                data = b""
            if len(data) != REPORT.size:
                break
            kind, pid, code = REPORT.unpack(data)
            if kind == FORKED:
                self._pending.popleft().set_result(pid)
            elif kind == EXITED:
                with self._cond:
                    self._exits[pid] = code
                    self._cond.notify_all()
        # the template is gone: fail waiting forks; the next fork starts a new template
        with self._lock:
            if self._control is control:
                self._control = None
            while self._pending:
                self._pending.popleft().set_exception(VMError("the process tier's template process died"))

    def fork(self) -> WorkerProcess:
        """A new worker process: a spare forked earlier, else one forked now."""
        with self._cond:
            spare = self._ready.popleft() if self._ready else None
        self._refill()
        return spare if spare is not None else self._fork_now()

    def _refill(self) -> None:
        with self._cond:
            if self._filling or self._closed or len(self._ready) >= self._spares:
                return
            self._filling = True
        threading.Thread(target=self._fill, name="walle-vm-spares", daemon=True).start()

    def _fill(self) -> None:
        try:
            while True:
                with self._cond:
                    if self._closed or len(self._ready) >= self._spares:
                        return
                worker = self._fork_now()
                with self._cond:
                    if not self._closed:
                        self._ready.append(worker)
                        continue
                worker.close()
                return
        except Exception:  # noqa: BLE001, S110 - no spare then: fork() forks on demand and reports
            pass
        finally:
            with self._cond:
                self._filling = False

    def _fork_now(self) -> WorkerProcess:
        host_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        future: Future[int] = Future()
        try:
            with self._lock:
                control = self._ensure_started()
                self._pending.append(future)
                try:
                    socket.send_fds(control, [b"F"], [worker_end.fileno()])
                except OSError as exc:
                    self._pending.remove(future)
                    raise VMError(f"cannot reach the process tier's template: {exc}") from None
            pid = future.result(_FORK_WAIT)
        except BaseException:
            host_end.close()
            raise
        finally:
            worker_end.close()
        return WorkerProcess(self, pid, host_end)

    def has_exited(self, pid: int) -> bool:
        with self._cond:
            return pid in self._exits

    def exit_code(self, pid: int, timeout: float) -> int | None:
        """The worker's exit status once reaped (negative: signal); None if not known in time."""
        with self._cond:
            self._cond.wait_for(lambda: pid in self._exits, timeout)
            return self._exits.get(pid)

    def close(self) -> None:
        """End the template; it kills the workers still running."""
        with self._lock, self._cond:
            self._closed = True
            control, self._control = self._control, None
            spares, self._ready = list(self._ready), deque()
        for worker in spares:
            worker.sock.close()  # the template kills the processes
        if control is not None:
            control.shutdown(socket.SHUT_RDWR)
            control.close()
        if self._proc is not None:
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
