"""End-to-end rollouts over real HTTP/WebSocket on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

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

_STARTED: list[Device] = []


async def _fleet(url: str, root: Path, n: int, session: aiohttp.ClientSession, prefix: str = "dev",
                 **kw: Any) -> list[Device]:
    devs = [Device(url, root / f"d{i}", [PUBKEY], enroll_token=ENROLL_TOKEN, session=session,
                   device_id=f"{prefix}-{i}", attrs={"user_id": f"user-{i}", "os": "android",
                                                     "app_version": "3.1.0", "region": "eu"}, **kw)
            for i in range(n)]
    _STARTED.extend(devs)
    await asyncio.gather(*(d.start() for d in devs))
    await asyncio.gather(*(asyncio.wait_for(d.connected.wait(), 20) for d in devs))
    await Publisher(url, PUB_TOKEN).accept([d.device_id for d in devs])  # the operator's approval
    return devs


@contextlib.asynccontextmanager
async def stopping() -> AsyncIterator[None]:
    """Stop every device started inside, even when the scenario fails."""
    try:
        yield
    finally:
        devs, _STARTED[:] = list(_STARTED), []
        await asyncio.gather(*(d.stop() for d in devs))


def test_staged_rollout_installs_and_counts(tmp_path: Path, db_url: str) -> None:
    async def scenario() -> None:
        async with serving(config(tmp_path, db_url)) as (url, _), aiohttp.ClientSession() as s, stopping():
            loaded: list[tuple[str, str, Path]] = []
            devs = await _fleet(url, tmp_path / "fleet", 60, s,
                                on_installed=lambda t, v, d: loaded.append((t, v, d)))
            pub = Publisher(url, PUB_TOKEN, KEY)
            await pub.publish(make_task(tmp_path, "demo", "1.0.0"))
            dep = await pub.deploy("demo", "1.0.0", stages=[50, 100], salt="s1")
            first = dep["counts"]["targeted"]
            assert 0 < first < 60
            await wait_until(lambda: sum(d.installed("demo") == "1.0.0" for d in devs) == first,
                             30, "stage 1 installs")
            dep = await pub.action(dep["id"], "advance")
            assert dep["counts"]["targeted"] == 60
            await wait_until(lambda: all(d.installed("demo") == "1.0.0" for d in devs), 30,
                             "all installs")
            for d in devs:
                await d.reporter.flushed(10)
            final = await pub.get(f"/api/v1/deployments/{dep['id']}")
            assert final["counts"] == {"targeted": 60, "notified": 60, "downloaded": 60,
                                       "installed": 60, "failed": 0}
            assert len(loaded) == 60 and all((d / "task.toml").is_file() for _, _, d in loaded)
            # a device catches up after being offline: it joins late and gets 1.0.0 at once
            late = (await _fleet(url, tmp_path / "late", 1, s, prefix="late"))[0]
            res = await late.wait_result(dep["id"], 20)
            assert res[0] == "installed" and late.installed("demo") == "1.0.0"
            await asyncio.gather(*(d.stop() for d in [*devs, late]))

    run(scenario())


def test_policy_filters_and_lists(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serving(config(tmp_path)) as (url, _), aiohttp.ClientSession() as s, stopping():
            devs = await _fleet(url, tmp_path / "fleet", 10, s)
            pub = Publisher(url, PUB_TOKEN, KEY)
            await pub.publish(make_task(tmp_path, "demo", "1.0.0"))
            policy = {"os": ["ios"], "allow": ["dev-3"], "deny": ["user-5"]}
            dep = await pub.deploy("demo", "1.0.0", stages=[100], policy=policy)
            assert dep["counts"]["targeted"] == 1  # only the allow-listed android device
            await wait_until(lambda: devs[3].installed("demo") == "1.0.0", 20, "allow-listed")
            dep2 = await pub.deploy("demo", "1.0.0", stages=[100],
                                    policy={"app_version": ">=3,<4", "deny": ["user-5"]})
            assert dep2["counts"]["targeted"] == 9
            await asyncio.gather(*(d.stop() for d in devs))

    run(scenario())


def test_auto_pause_and_rollback(tmp_path: Path) -> None:
    async def scenario() -> None:
        cfg = config(tmp_path, signing_key=None)
        async with serving(cfg) as (url, _), aiohttp.ClientSession() as s, stopping():
            def flaky(task: str, version: str, where: Path) -> None:
                if version == "2.0.0" and int(where.parts[-5][1:]) % 10 < 4:
                    raise RuntimeError("model failed to load")

            devs = await _fleet(url, tmp_path / "fleet", 50, s, on_installed=flaky)
            pub = Publisher(url, PUB_TOKEN, KEY)
            await pub.publish(make_task(tmp_path, "demo", "1.0.0"))
            await pub.publish(make_task(tmp_path, "demo", "2.0.0"))
            d1 = await pub.deploy("demo", "1.0.0", stages=[100])
            await wait_until(lambda: all(d.installed("demo") == "1.0.0" for d in devs), 30, "v1")
            d2 = await pub.deploy("demo", "2.0.0", stages=[100], fail_threshold=0.2,
                                  min_reports=10)
            await wait_until(lambda: all(d2["id"] in d.results for d in devs), 30, "v2 results")
            for d in devs:
                await d.reporter.flushed(10)
            got = await pub.get(f"/api/v1/deployments/{d2['id']}")
            assert got["state"] == "paused", got
            assert "failure rate" in got["reason"] and "20.0%" in got["reason"]
            assert got["counts"]["failed"] == 20
            # failed devices went back to 1.0.0 locally; the rest run 2.0.0
            assert sum(d.installed("demo") == "1.0.0" for d in devs) == 20
            # roll back with a publisher-signed rollback statement
            rb = await pub.rollback(d2["id"])
            assert rb["kind"] == "rollback" and rb["version"] == "1.0.0"
            await wait_until(lambda: all(rb["id"] in d.results for d in devs), 30, "rollback")
            assert all(d.installed("demo") == "1.0.0" for d in devs)
            assert all(d.results[rb["id"]][0] == "installed" for d in devs)
            assert (await pub.get(f"/api/v1/deployments/{d2['id']}"))["state"] == "rolled_back"
            assert (await pub.get(f"/api/v1/deployments/{d1['id']}"))["state"] == "superseded"
            await asyncio.gather(*(d.stop() for d in devs))

    run(scenario())


def test_scheduled_stages_advance(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serving(config(tmp_path)) as (url, _), aiohttp.ClientSession() as s, stopping():
            devs = await _fleet(url, tmp_path / "fleet", 20, s)
            pub = Publisher(url, PUB_TOKEN, KEY)
            await pub.publish(make_task(tmp_path, "demo", "1.0.0"))
            dep = await pub.deploy("demo", "1.0.0", stages=[
                {"percent": 10, "hold_s": 0.3}, {"percent": 50, "hold_s": 0.3}, 100])
            await wait_until(lambda: all(d.installed("demo") for d in devs), 30, "schedule")
            got = await pub.get(f"/api/v1/deployments/{dep['id']}")
            assert got["stage"] == 2 and got["percent"] == 100
            await asyncio.gather(*(d.stop() for d in devs))

    run(scenario())


def test_installed_task_runs_in_the_vm(tmp_path: Path) -> None:
    """Push-then-pull into a device whose installs load into a walle.vm Runner: the task
    runs, and a new version replaces it in the runner."""
    from walle.vm import Runner, RunnerClosed, UnknownTask

    async def scenario() -> None:
        with Runner(workers=1, mode="thread") as runner:

            async def runs(version: str) -> bool:
                if dev.installed("demo") != version:
                    return False
                try:
                    return await asyncio.to_thread(runner.run, "demo", {}, 30) == version
                except (UnknownTask, RunnerClosed):  # the old version is being swapped out
                    return False

            async with serving(config(tmp_path)) as (url, _), aiohttp.ClientSession() as s, stopping():
                (dev,) = await _fleet(url, tmp_path / "fleet", 1, s, runner=runner)
                pub = Publisher(url, PUB_TOKEN, KEY)
                for version in ("1.0.0", "1.1.0"):
                    await pub.publish(make_task(tmp_path, "demo", version))
                    await pub.deploy("demo", version, stages=[100], salt="vm")
                    # installed() flips when the files are in place; the runner swap follows it
                    await wait_until(lambda v=version: runs(v), 30, f"demo {version} running in the VM")

    run(scenario())
