"""Bad requests are refused at the boundary (422 naming the field) and never stored; one
deployment's bad data never touches the devices or deployments it does not concern."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import aiohttp
from helpers import (
    KEY,
    PUB_TOKEN,
    accept,
    assignments,
    config,
    make_task,
    post,
    register,
    run,
    serving,
    wait_until,
)
from walle.deploy import Publisher
from walle.deploy.bundle import pack_dir
from walle.deploy.db import deployments
from walle.deploy.signing import sign


def test_mistyped_policy_is_422_and_not_stored(tmp_path: Path) -> None:
    """Defect 1: ``"regions": "eu"`` answered 500 but was stored active, breaking every
    device's poll; ``"allow": "d1"`` matched by substring."""

    async def scenario() -> None:
        async with serving(config(tmp_path)) as (url, _), aiohttp.ClientSession() as s:
            await Publisher(url, PUB_TOKEN, KEY).publish(make_task(tmp_path, "demo", "1.0.0"))
            tokens = {d: await register(s, url, d, {"region": "eu"}) for d in ("d1", "d10")}
            await accept(s, url, list(tokens))
            for field, value in (("regions", "eu"), ("allow", "d1"), ("os", [1, 2])):
                status, body = await post(s, url, "/api/v1/deployments", {
                    "task": "demo", "version": "1.0.0", "policy": {field: value}})
                assert status == 422, body
                assert body["detail"].startswith(f"policy.{field}"), body
            status, deps = 0, None
            async with s.get(f"{url}/api/v1/deployments",
                             headers={"Authorization": f"Bearer {PUB_TOKEN}"}) as r:
                status, deps = r.status, await r.json()
            assert status == 200 and deps == [], "nothing invalid is stored"
            for token in tokens.values():  # every device still polls fine
                assert await assignments(s, url, token) == {}
            # an allow list matches whole ids only: d1 is in, d10 is not
            status, dep = await post(s, url, "/api/v1/deployments", {
                "task": "demo", "version": "1.0.0", "stages": [0.01],
                "policy": {"allow": ["d1"], "regions": ["us"]}})
            assert status == 201, dep
            assert "demo" in await assignments(s, url, tokens["d1"])
            assert await assignments(s, url, tokens["d10"]) == {}

    run(scenario())


def test_bad_hold_is_422_and_a_broken_schedule_stays_its_own(tmp_path: Path) -> None:
    """Defect 2: ``"hold_s": "1h"`` was accepted, then the scheduler failed on every tick
    and stalled every other deployment's stage advance."""

    async def scenario() -> None:
        async with serving(config(tmp_path, tick_s=0.1)) as (url, app), \
                aiohttp.ClientSession() as s:
            pub = Publisher(url, PUB_TOKEN, KEY)
            await pub.publish(make_task(tmp_path, "demo", "1.0.0"))
            await pub.publish(make_task(tmp_path, "other", "1.0.0"))
            status, body = await post(s, url, "/api/v1/deployments", {
                "task": "demo", "version": "1.0.0",
                "stages": [{"percent": 10, "hold_s": "1h"}, 100]})
            assert status == 422 and body["detail"].startswith("stages.0"), body
            assert "hold_s" in body["detail"]
            # a row made unreadable behind the API's back (an older service, a manual edit)
            bad = await pub.deploy("demo", "1.0.0", stages=[10, 100])
            async with app.state.store.db.write() as conn:
                await conn.execute(deployments.update().where(deployments.c.id == bad["id"])
                                   .values(stages=json.dumps([{"percent": 10, "hold_s": "1h"},
                                                              {"percent": 100}])))
            good = await pub.deploy("other", "1.0.0",
                                    stages=[{"percent": 10, "hold_s": 0.2}, 100])

            async def advanced() -> bool:
                return bool((await pub.get(f"/api/v1/deployments/{good['id']}"))["stage"] == 1)

            await wait_until(advanced, 20, "the good deployment's scheduled advance")
            got = await pub.get(f"/api/v1/deployments/{bad['id']}")
            assert got["state"] == "paused" and "scheduler stopped" in got["reason"], got

    run(scenario())


def test_bad_stages_and_truncated_upload_are_named(tmp_path: Path) -> None:
    """Defect 3: bad stages and a truncated gzip upload answered bare 500s."""

    async def scenario() -> None:
        async with serving(config(tmp_path)) as (url, _), aiohttp.ClientSession() as s:
            await Publisher(url, PUB_TOKEN, KEY).publish(make_task(tmp_path, "demo", "1.0.0"))
            for stages, field in (([{"percent": 10, "foo": 1}], "stages.0"),
                                  (["abc"], "stages.0"), ([], "stages"), ([150], "stages.0"),
                                  ([50, 10], "stages must increase")):
                status, body = await post(s, url, "/api/v1/deployments",
                                          {"task": "demo", "version": "1.0.0", "stages": stages})
                assert status == 422 and field in body["detail"], (stages, body)
            data = pack_dir(make_task(tmp_path, "demo", "2.0.0", payload=50_000))
            cut = data[: len(data) // 2]
            sha = hashlib.sha256(cut).hexdigest()
            async with s.put(f"{url}/api/v1/blobs/{sha}", data=cut,
                             headers={"Authorization": f"Bearer {PUB_TOKEN}"}) as r:
                assert r.status == 201
            st, sig = sign(KEY, {"kind": "release", "task": "demo", "version": "2.0.0",
                                 "bundle_sha256": sha, "bundle_size": len(cut),
                                 "manifest_sha256": "0" * 64})
            status, body = await post(s, url, "/api/v1/releases", {"statement": st,
                                                                   "signature": sig})
            assert status == 422 and "corrupt or truncated" in body["detail"], body

    run(scenario())


def test_invalid_device_id_is_422(tmp_path: Path) -> None:
    """Defect 11 (service part): an invalid device id answered 409 instead of 422."""

    async def scenario() -> None:
        async with serving(config(tmp_path)) as (url, _), aiohttp.ClientSession() as s:
            from helpers import ENROLL_TOKEN

            async with s.post(f"{url}/api/v1/devices/register", json={"device_id": "a b/c"},
                              headers={"Authorization": f"Bearer {ENROLL_TOKEN}"}) as r:
                body = await r.json()
                assert r.status == 422 and body["detail"].startswith("device_id"), body

    run(scenario())
