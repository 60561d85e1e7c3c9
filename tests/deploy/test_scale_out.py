"""Two service instances over one PostgreSQL: a deployment created on one reaches the
devices connected to the other (LISTEN/NOTIFY), and their schedulers advance a stage once."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import aiohttp
from helpers import (
    ENROLL_TOKEN,
    KEY,
    PUB_TOKEN,
    PUBKEY,
    config,
    make_task,
    run,
    serving,
    wait_until,
)
from walle.deploy import Device, Publisher


def test_two_instances_share_deployments(tmp_path: Path, pg_url: str) -> None:
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    db_url = pg_url.rsplit("/", 1)[0] + "/" + name
    cfg = config(tmp_path, db_url, tick_s=0.1)

    async def scenario() -> None:
        async with serving(cfg) as (url_a, _), serving(cfg) as (url_b, app_b), \
                aiohttp.ClientSession() as s:
            devs = [Device(url_b if i % 2 else url_a, tmp_path / f"d{i}", [PUBKEY],
                           enroll_token=ENROLL_TOKEN, session=s, device_id=f"d{i}")
                    for i in range(10)]
            try:
                await asyncio.gather(*(d.start() for d in devs))
                await asyncio.gather(*(asyncio.wait_for(d.connected.wait(), 20) for d in devs))
                assert len(app_b.state.rollout.hub) == 5
                pub = Publisher(url_a, PUB_TOKEN, KEY)  # everything goes through instance A
                await pub.accept(all_pending=True)
                await pub.publish(make_task(tmp_path, "demo", "1.0.0"))
                dep = await pub.deploy("demo", "1.0.0", stages=[
                    {"percent": 30, "hold_s": 0.5}, {"percent": 100}], salt="x")
                results = await asyncio.gather(*(d.wait_result(dep["id"], 30) for d in devs))
                assert all(r[0] == "installed" for r in results), results
                # the devices on B were told by B, pushed over its own connections
                assert all(devs[i].installed("demo") == "1.0.0" for i in range(1, 10, 2))
                got = await pub.get(f"/api/v1/deployments/{dep['id']}")
                assert got["stage"] == 1 and got["state"] == "active"
                audit = await pub.get("/api/v1/audit")
                assert [e["action"] for e in audit].count("create") == 1
                # a device revoked on A is refused by B (B had its credential cached)
                await pub.action_path("/api/v1/devices/d1/revoke")

                async def refused_by_b() -> bool:
                    async with s.get(f"{url_b}/api/v1/device/assignments",
                                     headers={"Authorization": f"Bearer {devs[1]._token}"}) as r:
                        return r.status == 401

                await wait_until(refused_by_b, 10, "B refusing the revoked device")
            finally:
                await asyncio.gather(*(d.stop() for d in devs))

    run(scenario(), timeout=120)
