"""A service killed (SIGKILL) in the middle of a rollout loses nothing and carries on.

The service runs as ``python -m walle.deploy serve`` in a child process on SQLite, so the
kill is real; the devices reconnect with backoff, re-send unacknowledged reports, and the
scheduled stage advance (whose clock is in the database) still happens.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
from helpers import ENROLL_TOKEN, KEY, PUB_TOKEN, PUBKEY, free_port, make_task, run, wait_until
from walle.deploy import Device, Publisher
from walle.deploy.cli import main as cli_main
from walle.deploy.signing import private_key_pem

ROOT = Path(__file__).resolve().parents[2]


def _spawn(tmp: Path, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"),
               WALLE_DEPLOY_PUBLISHER_TOKEN=PUB_TOKEN, WALLE_DEPLOY_ENROLL_TOKEN=ENROLL_TOKEN)
    return subprocess.Popen(
        [sys.executable, "-m", "walle.deploy", "serve", "--port", str(port),
         "--db", f"sqlite:///{tmp / 'deploy.db'}", "--data-dir", str(tmp / "data"),
         "--publisher-key", PUBKEY, "--tick", "0.2", "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=open(tmp / "server.log", "ab"))


async def _up(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as s, s.get(url + "/healthz") as r:
            return r.status == 200
    except aiohttp.ClientError:
        return False


def test_restart_mid_rollout_loses_nothing(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    procs = [_spawn(tmp_path, port)]

    async def scenario() -> None:
        await wait_until(lambda: _up(url), 30, "server up")
        pub = Publisher(url, PUB_TOKEN, KEY)
        async with aiohttp.ClientSession() as s:
            devs = [Device(url, tmp_path / f"d{i}", [PUBKEY], enroll_token=ENROLL_TOKEN,
                           session=s, device_id=f"dev-{i}", attrs={"user_id": f"u{i}"},
                           max_backoff_s=1.0)
                    for i in range(80)]
            try:
                await asyncio.gather(*(d.start() for d in devs))
                await asyncio.gather(*(asyncio.wait_for(d.connected.wait(), 20) for d in devs))
                await pub.accept(all_pending=True)
                await pub.publish(make_task(tmp_path, "demo", "1.0.0", payload=50_000))
                dep = await pub.deploy("demo", "1.0.0", salt="r", stages=[
                    {"percent": 25}, {"percent": 60, "hold_s": 1.0}, {"percent": 100}])
                first = dep["counts"]["targeted"]
                await wait_until(lambda: sum(bool(d.installed("demo")) for d in devs) >= first,
                                 30, "first stage")
                await pub.action(dep["id"], "advance")  # to 60%, which will auto-advance
                procs[0].send_signal(signal.SIGKILL)  # mid-rollout: downloads and reports in flight
                procs[0].wait(10)
                await asyncio.sleep(0.5)
                procs.append(_spawn(tmp_path, port))
                await wait_until(lambda: _up(url), 30, "server back")
                await wait_until(lambda: all(d.installed("demo") == "1.0.0" for d in devs), 60,
                                 "every device installed after the restart")
                await asyncio.gather(*(d.reporter.flushed(30) for d in devs))
                got = await pub.get(f"/api/v1/deployments/{dep['id']}")
                assert got["stage"] == 2, "the scheduled advance happened after the restart"
                assert got["counts"]["installed"] == 80 and got["counts"]["failed"] == 0
                assert got["counts"]["downloaded"] == 80 and got["counts"]["targeted"] == 80
            finally:
                await asyncio.gather(*(d.stop() for d in devs))

    try:
        run(scenario(), timeout=150)
    finally:
        for p in procs:
            p.kill()
            p.wait(10)


def test_cli_keygen_publish_deploy(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _spawn(tmp_path, port)
    try:
        run(wait_until(lambda: _up(url), 30, "server up"))
        key = tmp_path / "pub.pem"
        key.write_bytes(private_key_pem(KEY))
        common = ["--server", url, "--token", PUB_TOKEN]
        assert cli_main(["publish", str(make_task(tmp_path)), "--key", str(key), *common]) == 0
        assert cli_main(["deploy", "demo", "1.0.0", "--stages", "10,100", *common]) == 0
        assert cli_main(["advance", "1", *common]) == 0
        assert cli_main(["pause", "1", *common]) == 0
        capsys.readouterr()
        assert cli_main(["list", *common]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert listed[0]["state"] == "paused" and listed[0]["percent"] == 100
        assert cli_main(["pause", "1", *common]) == 1
        assert "is paused, not active" in capsys.readouterr().err
        assert cli_main(["keygen", "--out", str(tmp_path / "new.pem")]) == 0
        assert "public_key" in json.loads(capsys.readouterr().out)
    finally:
        proc.kill()
        proc.wait(10)
