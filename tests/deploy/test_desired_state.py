"""Desired state: a device that enrolls late (after a 50% stage, after a rollback) gets
exactly what the deployments' policies say; rollback works in the documented setup."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
from helpers import (
    ENROLL_TOKEN,
    KEY,
    PUB_TOKEN,
    PUBKEY,
    accept,
    assignments,
    config,
    free_port,
    make_task,
    run,
    serving,
    wait_until,
)
from walle.deploy import Device, Publisher
from walle.deploy.cli import main as cli_main
from walle.deploy.policy import in_percent
from walle.deploy.signing import generate_key, private_key_pem, public_key_b64

ROOT = Path(__file__).resolve().parents[2]


def test_late_enrollers_get_what_the_policy_says(tmp_path: Path) -> None:
    """Defect 7: a device enrolling after a deployment moved to 50%, or after a rollback,
    got nothing: there was no desired state, only events."""
    service_key = generate_key()
    cfg = config(tmp_path, signing_key=None)
    pem = tmp_path / "service.pem"
    pem.write_bytes(private_key_pem(service_key))
    cfg.signing_key = str(pem)

    async def scenario() -> None:
        async with serving(cfg) as (url, _), aiohttp.ClientSession() as s:
            pub = Publisher(url, PUB_TOKEN, KEY)
            await pub.publish(make_task(tmp_path, "demo", "1.0.0"))
            await pub.publish(make_task(tmp_path, "demo", "2.0.0"))
            await pub.deploy("demo", "1.0.0", stages=[100], policy={"regions": ["eu"]})
            d2 = await pub.deploy("demo", "2.0.0", stages=[10, 50, 100], salt="half",
                                  policy={"regions": ["eu"]})
            await pub.action(d2["id"], "advance")  # now at 50%
            late = {f"late-{i}": f"user-{i}" for i in range(40)}
            tokens = {}
            for dev, user in late.items():
                tokens[dev] = await _enroll(s, url, dev, {"user_id": user, "region": "eu"})
            us = await _enroll(s, url, "late-us", {"user_id": "user-us", "region": "us"})
            for dev, user in late.items():
                got = await assignments(s, url, tokens[dev])
                want = "2.0.0" if in_percent("half", user, 50) else "1.0.0"
                assert got["demo"]["version"] == want, (dev, got)
            assert await assignments(s, url, us) == {}, "outside the policy: nothing"
            rb = await pub.action(d2["id"], "rollback")
            assert rb["kind"] == "rollback" and rb["version"] == "1.0.0"
            after = await _enroll(s, url, "after-rb", {"user_id": "user-x", "region": "eu"})
            got = await assignments(s, url, after)
            assert got["demo"]["version"] == "1.0.0" and got["demo"]["deployment"] == rb["id"]
            for dev in late:  # and the earlier devices converge to the rollback too
                assert (await assignments(s, url, tokens[dev]))["demo"]["version"] == "1.0.0"
            # a real device that enrolls after the rollback installs 1.0.0
            dev = Device(url, tmp_path / "dev", [PUBKEY, public_key_b64(service_key)],
                         enroll_token=ENROLL_TOKEN, session=s, device_id="real",
                         attrs={"region": "eu"})
            await dev.start()
            try:
                await accept(s, url, ["real"])
                state, why = await dev.wait_result(rb["id"], 20)
                assert state == "installed" and dev.installed("demo") == "1.0.0", why
            finally:
                await dev.stop()

    run(scenario())


async def _enroll(s: aiohttp.ClientSession, url: str, dev: str, attrs: dict[str, str]) -> str:
    from helpers import register

    token = await register(s, url, dev, attrs)
    await accept(s, url, [dev])
    return token


def _spawn(tmp: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"),
               WALLE_DEPLOY_PUBLISHER_TOKEN=PUB_TOKEN, WALLE_DEPLOY_ENROLL_TOKEN=ENROLL_TOKEN)
    return subprocess.Popen(
        [sys.executable, "-m", "walle.deploy", "serve", "--port", str(port),
         "--db", f"sqlite:///{tmp / 'deploy.db'}", "--data-dir", str(tmp / "data"),
         "--publisher-key", PUBKEY, "--tick", "0.2", "--log-level", "warning", *extra],
        env=env, stdout=subprocess.DEVNULL, stderr=open(tmp / "server.log", "ab"))


def test_rollback_as_documented(tmp_path: Path) -> None:
    """Defect 8: roll back answered 409 from the page's button and from the CLI in the
    documented setup.  The setup of ``walle deploy``'s help: a service key from keygen,
    ``serve --signing-key``, devices pinning both keys; ``rollback ID`` with no ``--key``."""
    from walle.deploy import cli

    doc = cli.__doc__.replace("\\\n", " ")
    serve = next(line for line in doc.splitlines() if "walle deploy serve" in line)
    assert "--signing-key" in serve, "the documented service can sign rollbacks"
    assert "keygen --out service.pem" in doc and "rollback <deployment id>" in doc
    service_pem = tmp_path / "service.pem"
    assert cli_main(["keygen", "--out", str(service_pem)]) == 0
    from walle.deploy.signing import load_private_key

    service_pub = public_key_b64(load_private_key(service_pem))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _spawn(tmp_path, port, "--signing-key", str(service_pem))

    async def up() -> bool:
        try:
            async with aiohttp.ClientSession() as s, s.get(url + "/healthz") as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False

    async def scenario() -> None:
        await wait_until(up, 30, "server up")
        pub = Publisher(url, PUB_TOKEN, KEY)
        assert (await pub.get("/api/v1/info"))["signs_rollbacks"] is True  # the page shows it
        async with aiohttp.ClientSession() as s:
            devs = [Device(url, tmp_path / f"d{i}", [PUBKEY, service_pub],
                           enroll_token=ENROLL_TOKEN, session=s, device_id=f"d{i}")
                    for i in range(3)]
            try:
                await asyncio.gather(*(d.start() for d in devs))
                await accept(s, url, [d.device_id for d in devs])
                for v in ("1.0.0", "2.0.0", "3.0.0"):
                    await pub.publish(make_task(tmp_path, "demo", v))
                d1 = await pub.deploy("demo", "1.0.0", stages=[100])
                await wait_until(lambda: all(d.installed("demo") == "1.0.0" for d in devs),
                                 30, "1.0.0")
                d2 = await pub.deploy("demo", "2.0.0", stages=[100])
                await wait_until(lambda: all(d.installed("demo") == "2.0.0" for d in devs),
                                 30, "2.0.0")
                common = ["--server", url, "--token", PUB_TOKEN]
                code = await asyncio.to_thread(cli_main, ["rollback", str(d2["id"]), *common])
                assert code == 0
                await wait_until(lambda: all(d.installed("demo") == "1.0.0" for d in devs),
                                 30, "CLI rollback to 1.0.0")
                d3 = await pub.deploy("demo", "3.0.0", stages=[100])
                await wait_until(lambda: all(d.installed("demo") == "3.0.0" for d in devs),
                                 30, "3.0.0")
                # the page's button: a POST with no body, as operator.html sends it
                async with s.post(f"{url}/api/v1/deployments/{d3['id']}/rollback",
                                  headers={"Authorization": f"Bearer {PUB_TOKEN}"}) as r:
                    assert r.status == 200, await r.text()
                    rb = await r.json()
                assert rb["version"] == "1.0.0"  # 2.0.0 was rolled back, so 1.0.0 is previous
                # a device's report of the rollback follows its install: wait for both
                await wait_until(lambda: all(d.installed("demo") == "1.0.0" and rb["id"] in d.results
                                             for d in devs), 30, "page rollback")
                assert all(d.results[rb["id"]][0] == "installed" for d in devs)
                assert (await pub.get(f"/api/v1/deployments/{d1['id']}"))["state"] == "superseded"
            finally:
                await asyncio.gather(*(d.stop() for d in devs))

    try:
        run(scenario(), timeout=150)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
