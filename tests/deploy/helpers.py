"""Shared helpers for the deploy tests: keys, bundles, an in-loop server, a PG cluster."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from walle.deploy.app import create_app
from walle.deploy.config import ServerConfig
from walle.deploy.signing import generate_key, public_key_b64

T = TypeVar("T")
PUB_TOKEN, ENROLL_TOKEN = "pub-secret", "enroll-secret"
KEY = generate_key()
PUBKEY = public_key_b64(KEY)


def run(coro: Awaitable[T], timeout: float = 90.0) -> T:
    """Run a test scenario with a hard bound, so no test can hang.

    Unlike ``asyncio.run``, the teardown is bounded too: leftover tasks get 10 s to
    finish after being cancelled (a task stuck in a cancelled database call must not
    hang the suite).
    """
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(asyncio.wait_for(coro, timeout))
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=10))
        loop.run_until_complete(asyncio.wait([loop.create_task(loop.shutdown_asyncgens())],
                                             timeout=5))
        loop.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_task(root: Path, name: str = "demo", version: str = "1.0.0", payload: int = 1000) -> Path:
    """A bundle directory with a task.toml, a module and a payload file."""
    d = root / f"{name}-{version}"
    (d / "models").mkdir(parents=True)
    (d / "task.toml").write_text(f'name = "{name}"\nversion = "{version}"\nentry = "main:run"\n')
    (d / "main.py").write_text(f"def run(ctx, inputs):\n    return {version!r}\n")
    (d / "models" / "weights.bin").write_bytes(os.urandom(payload))
    return d


async def wait_until(pred: Any, timeout: float, what: str, period: float = 0.05) -> None:
    """Poll ``pred`` (sync or async) until true; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        res = pred()
        if asyncio.iscoroutine(res):
            res = await res
        if res:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(period)


def config(tmp: Path, db_url: str | None = None, **kw: Any) -> ServerConfig:
    return ServerConfig(
        db_url=db_url or f"sqlite:///{tmp / 'deploy.db'}", data_dir=str(tmp / "data"),
        publisher_tokens=[PUB_TOKEN], enroll_tokens=[ENROLL_TOKEN],
        publisher_keys=kw.pop("publisher_keys", [PUBKEY]), tick_s=kw.pop("tick_s", 0.2), **kw,
    )


@contextlib.asynccontextmanager
async def serving(cfg: ServerConfig, port: int | None = None) -> AsyncIterator[Any]:
    """Run the service in this event loop on 127.0.0.1; yields (url, app)."""
    port = port or free_port()
    app = create_app(cfg)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on", timeout_graceful_shutdown=3))
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started or task.done(), 20, "server start")
    if task.done():
        task.result()
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


# -- PostgreSQL: a throwaway cluster run as a non-root user ------------------------------

def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (base / name).exists():
            return str(base / name)
    return None


@contextlib.contextmanager
def postgres_cluster() -> Iterator[str | None]:
    """Yield a postgresql:// URL of a fresh cluster, or None if PostgreSQL is missing."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        yield None
        return
    tmp = Path(tempfile.mkdtemp(prefix="walle-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: use the postgres (or nobody) user
        user = "postgres" if _user_exists("postgres") else "nobody"
        shutil.chown(tmp, user)
        os.chmod(tmp, 0o700)
        prefix = ["runuser", "-u", user, "--"]
    data, port = tmp / "data", free_port()
    subprocess.run([*prefix, initdb, "-D", str(data), "-U", "walle", "--auth=trust",
                    "-E", "UTF8", "--no-sync"], check=True, capture_output=True, timeout=120)
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {tmp} -c fsync=off -c max_connections=100"
    subprocess.run([*prefix, pg_ctl, "-D", str(data), "-o", opts, "-l", str(tmp / "log"),
                    "-w", "-t", "60", "start"], check=True, capture_output=True, timeout=90)
    try:
        yield f"postgresql://walle@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60, check=False)
        shutil.rmtree(tmp, ignore_errors=True)


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


# -- devices driven over plain HTTP (no Device client): exact, fast fleet checks -------------

async def register(s: Any, url: str, device_id: str, attrs: dict[str, Any] | None = None) -> str:
    """Register a device with the enrollment token; returns its own token."""
    async with s.post(f"{url}/api/v1/devices/register", json={"device_id": device_id,
                                                               "attrs": attrs or {}},
                      headers={"Authorization": f"Bearer {ENROLL_TOKEN}"}) as r:
        assert r.status == 201, await r.text()
        return str((await r.json())["token"])


async def accept(s: Any, url: str, ids: list[str], attrs: dict[str, Any] | None = None) -> None:
    """Accept devices as the operator (their claimed attributes unless ``attrs``)."""
    body: dict[str, Any] = {"ids": ids} | ({"attrs": attrs} if attrs is not None else {})
    async with s.post(f"{url}/api/v1/devices/accept", json=body,
                      headers={"Authorization": f"Bearer {PUB_TOKEN}"}) as r:
        assert r.status == 200, await r.text()


async def assignments(s: Any, url: str, token: str) -> dict[str, dict[str, Any]]:
    """A device's current assignments by task (what a polling device is told)."""
    async with s.get(f"{url}/api/v1/device/assignments",
                     headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 200, await r.text()
        return {a["task"]: a for a in (await r.json())["assignments"]}


async def report(s: Any, url: str, token: str, dep_id: int, state: str, detail: str = "") -> None:
    """Send one status report as a device."""
    async with s.post(f"{url}/api/v1/device/status",
                      json={"reports": [{"deployment": dep_id, "state": state, "detail": detail}]},
                      headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 200, await r.text()


async def post(s: Any, url: str, path: str, body: Any = None) -> tuple[int, Any]:
    """POST as the publisher; (status, decoded body)."""
    async with s.post(url + path, json=body,
                      headers={"Authorization": f"Bearer {PUB_TOKEN}"}) as r:
        return r.status, await r.json(content_type=None)
