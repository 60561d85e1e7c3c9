"""The device client: register, hold the push connection, verify, install, report.

One :class:`Device` is cheap (a few asyncio tasks), so a benchmark runs thousands of
them in one process over a shared :class:`aiohttp.ClientSession`.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Self
from urllib.parse import urljoin, urlsplit

import aiohttp

from .bundle import DEFAULT_LIMITS, Limits
from .download import download
from .errors import AuthError, DeployError, ServerError
from .installer import NOOP, SWITCH, Installer
from .reporter import Reporter
from .signing import Verifier

log = logging.getLogger("walle.deploy.device")

OnInstalled = Callable[[str, str, Path], Awaitable[None] | None]
# Failures of the network or the service, worth retrying; a local OSError (disk full, a
# read-only directory) is not one of them: it is reported as the install's failure.
_NET_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, ServerError)


class Device:
    """A device of the fleet.

    ``on_installed(task, version, install_dir)`` runs after each install (sync or async);
    if it raises, the device switches back to the previous version and reports the
    failure.  Without it, a ``runner`` (e.g. ``walle.vm.Runner``) gets
    ``runner.load(install_dir)``.  ``mode`` is ``"push"`` (WebSocket notices) or
    ``"poll"`` (periodic GET, for comparison).  ``session`` (and ``ws_session`` for the
    push connection) may be shared by many devices.
    """

    def __init__(
        self,
        server: str,
        state_dir: str | Path,
        trusted_keys: list[str],
        *,
        enroll_token: str | None = None,
        attrs: dict[str, Any] | None = None,
        device_id: str | None = None,
        on_installed: OnInstalled | None = None,
        runner: Any = None,
        mode: str = "push",
        poll_interval_s: float = 30.0,
        session: aiohttp.ClientSession | None = None,
        ws_session: aiohttp.ClientSession | None = None,
        max_backoff_s: float = 10.0,
        heartbeat_s: float | None = 30.0,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        if mode not in ("push", "poll"):
            raise DeployError(f"device mode {mode!r} is not 'push' or 'poll'")
        self.server = server.rstrip("/") + "/"
        self.state_dir = Path(state_dir)
        self.installer = Installer(self.state_dir, Verifier(trusted_keys), limits)
        self.enroll_token, self.attrs, self.device_id = enroll_token, dict(attrs or {}), device_id
        self.on_installed, self.runner, self.mode = on_installed, runner, mode
        self.poll_interval_s, self.max_backoff_s, self.heartbeat_s = (
            poll_interval_s, max_backoff_s, heartbeat_s)
        self.results: dict[int, tuple[str, str]] = {}  # deployment -> (installed|failed, why)
        self.connected = asyncio.Event()
        self._session, self._own_session = session, session is None
        # a separate pool for the long-lived socket, so a bounded HTTP pool never starves it
        self._ws_session = ws_session
        self._token: str | None = None
        self._desired: dict[str, dict[str, Any]] = {}
        self._kicks: dict[str, asyncio.Event] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._progress = asyncio.Condition()
        self.reporter: Reporter | None = None

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Register (first time only), then connect and work in the background."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        await self._identity()
        self.reporter = Reporter(self._session, self._url("api/v1/device/status"), self._auth)
        loop = self._push_loop() if self.mode == "push" else self._poll_loop()
        self._tasks += [asyncio.create_task(self.reporter.run()), asyncio.create_task(loop)]

    async def stop(self) -> None:
        """Stop all background work and close the connection."""
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.connected.clear()
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def installed(self, task: str) -> str | None:
        """The installed version of ``task``, or None."""
        cur = self.installer.current(task)
        return None if cur is None else str(cur["version"])

    async def wait_result(self, deployment: int, timeout: float) -> tuple[str, str]:
        """Wait until the device has finished a deployment; (``installed``|``failed``, why)."""
        async with self._progress:
            await asyncio.wait_for(
                self._progress.wait_for(lambda: deployment in self.results), timeout)
        return self.results[deployment]

    # -- identity -----------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return urljoin(self.server, path)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    async def _identity(self) -> None:
        path = self.state_dir / "identity.json"
        if path.exists():
            ident = json.loads(path.read_text())
        else:
            if not self.enroll_token:
                raise AuthError("device is not registered and has no enrollment token")
            assert self._session is not None
            body = {"device_id": self.device_id, "attrs": self.attrs}
            hdrs = {"Authorization": f"Bearer {self.enroll_token}"}
            async with self._session.post(self._url("api/v1/devices/register"), json=body,
                                          headers=hdrs) as r:
                if r.status != 201:
                    raise ServerError(r.status, await r.text())
                ident = await r.json()
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(ident))
            os.replace(tmp, path)
        self.device_id, self._token = ident["device_id"], ident["token"]

    # -- receiving notices --------------------------------------------------------------

    async def _push_loop(self) -> None:
        assert self._session is not None
        url = self._url("api/v1/device/connect").replace("http", "ws", 1)
        backoff = 0.2
        while True:
            try:
                ws_pool = self._ws_session or self._session
                async with ws_pool.ws_connect(url, headers=self._auth(),
                                                    heartbeat=self.heartbeat_s) as ws:
                    self.connected.set()
                    backoff = 0.2
                    async for msg in ws:
                        if msg.type == aiohttp.WSMsgType.TEXT:
                            self._on_message(json.loads(msg.data))
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                log.debug("%s: connection lost: %s", self.device_id, exc)
            finally:
                self.connected.clear()
            # jittered exponential backoff: a restarted service is not hit by everyone at once
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(backoff * 2, self.max_backoff_s)

    async def _poll_loop(self) -> None:
        assert self._session is not None
        etag: str | None = None
        await asyncio.sleep(random.random() * self.poll_interval_s)  # spread the fleet
        while True:
            hdrs = self._auth() | ({"If-None-Match": etag} if etag else {})
            try:
                async with self._session.get(self._url("api/v1/device/assignments"),
                                             headers=hdrs) as r:
                    if r.status == 200:
                        etag = r.headers.get("ETag")
                        for n in (await r.json())["assignments"]:
                            self._on_notice(n)
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                log.debug("%s: poll failed: %s", self.device_id, exc)
            await asyncio.sleep(self.poll_interval_s)

    def _on_message(self, msg: dict[str, Any]) -> None:
        if msg.get("type") == "hello":
            for n in msg.get("assignments", []):
                self._on_notice(n)
        elif msg.get("type") == "notice":
            self._on_notice(msg)

    def _on_notice(self, n: dict[str, Any]) -> None:
        task, dep = str(n["task"]), int(n["deployment"])
        if dep in self.results:
            return
        cur = self._desired.get(task)
        if cur is not None and int(cur["deployment"]) >= dep:
            return  # a newer deployment of the task is already known
        self._desired[task] = n
        if task not in self._kicks:
            self._kicks[task] = asyncio.Event()
            self._tasks.append(asyncio.create_task(self._worker(task)))
        self._kicks[task].set()

    # -- installing ---------------------------------------------------------------------

    async def _worker(self, task: str) -> None:
        # One worker per task: installs of a task never overlap, the newest notice wins.
        # _process reports every failure itself, so this loop outlives any bad bundle.
        kick = self._kicks[task]
        while True:
            await kick.wait()
            kick.clear()
            n = self._desired[task]
            if int(n["deployment"]) not in self.results:
                await self._process(n)

    async def _process(self, n: dict[str, Any]) -> None:
        """Install one notice; every failure (download, verify, unpack, load, a full
        disk) becomes a ``failed`` report with its reason, never an exception."""
        try:
            dep, st, sig = int(n["deployment"]), n["statement"], n["signature"]
        except (KeyError, TypeError, ValueError) as exc:
            log.error("%s: malformed notice %r: %s", self.device_id, n, exc)
            return
        assert self.reporter is not None
        try:
            action = self.installer.plan(st, sig)
            if action == NOOP:
                await asyncio.to_thread(self.installer.note_seen, st)
            else:
                if action == SWITCH:
                    where = await asyncio.to_thread(self.installer.switch_to_previous,
                                                    st["task"], st["serial"])
                else:
                    archive = await self._fetch(n)
                    if archive is None:
                        return  # a newer notice of the task replaced this one
                    self.reporter.add(dep, "downloaded")
                    where = await asyncio.to_thread(self.installer.install, st, archive)
                await self._load(st["task"], st["version"], where)
            outcome = ("installed", f"{st['task']} {st['version']}")
        except asyncio.CancelledError:
            raise
        except DeployError as exc:
            log.warning("%s: deployment %s refused: %s", self.device_id, dep, exc)
            outcome = ("failed", str(exc))
        except Exception as exc:  # noqa: BLE001 - OS errors (disk full), bad archives, bugs
            log.warning("%s: deployment %s failed: %s", self.device_id, dep, exc)
            outcome = ("failed", f"{type(exc).__name__}: {exc}")
        self.reporter.add(dep, outcome[0], "" if outcome[0] == "installed" else outcome[1])
        async with self._progress:
            self.results[dep] = outcome
            self._progress.notify_all()

    async def _fetch(self, n: dict[str, Any]) -> Path | None:
        """The verified archive of a notice; None if a newer notice replaced it meanwhile.

        Network and server (5xx, 408, 429) failures are retried for as long as they last,
        with exponential backoff and jitter, resuming the partial file each time: an
        outage delays an install but never fails it.
        """
        assert self._session is not None
        st = n["statement"]
        url = self._url(n["url"])
        # Our token goes only to our own service, never to a third-party CDN.
        same = urlsplit(url).netloc == urlsplit(self.server).netloc
        delay, attempt = 0.2, 0
        while self._desired.get(st["task"]) is n:
            try:
                return await download(self._session, url, self.installer.downloads,
                                      st["bundle_sha256"], int(st["bundle_size"]),
                                      self._auth() if same else None)
            except _NET_ERRORS as exc:
                if isinstance(exc, ServerError) and exc.status < 500 and exc.status not in (408, 429):
                    raise
                attempt += 1
                log.debug("%s: download attempt %d failed: %s", self.device_id, attempt, exc)
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, self.max_backoff_s)
        return None

    async def _load(self, task: str, version: str, where: Path) -> None:
        try:
            if self.on_installed is not None:
                res = self.on_installed(task, version, where)
                if inspect.isawaitable(res):
                    await res
            elif self.runner is not None:
                await asyncio.to_thread(self._replace_in_runner, task, where)
        except Exception as exc:
            try:
                previous = await asyncio.to_thread(self.installer.switch_to_previous, task)
                if self.on_installed is None and self.runner is not None:
                    await asyncio.to_thread(self._replace_in_runner, task, previous)
            except DeployError:
                pass  # nothing to go back to; the failure is still reported
            raise DeployError(f"{task} {version} installed but failed to load: {exc}") from exc

    def _replace_in_runner(self, task: str, where: Path) -> None:
        """Swap the runner's copy of `task` for the bundle at `where` (a new or rolled-back version)."""
        if task in self.runner.tasks:
            self.runner.unload(task)
        self.runner.load(str(where))
