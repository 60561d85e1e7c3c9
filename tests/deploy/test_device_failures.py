"""The device reports every failure with its reason and its worker lives on; an outage
delays an install but never fails it."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import io
import tarfile
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from helpers import (
    ENROLL_TOKEN,
    KEY,
    PUB_TOKEN,
    PUBKEY,
    config,
    free_port,
    make_task,
    run,
    serving,
)
from walle.deploy import BundleError, Device, Publisher
from walle.deploy import bundle as bundle_mod
from walle.deploy.bundle import unpack
from walle.deploy.signing import sign


def _tar(members: list[tuple[str, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


MANIFEST = b'name = "demo"\nversion = "1.0.0"\nentry = "main:run"\n'
BAD_BUNDLES = {
    "duplicate member": ([("task.toml", MANIFEST), ("a.bin", b"1"), ("a.bin", b"2")],
                         "appears twice"),
    "file and directory": ([("task.toml", MANIFEST), ("models", b"x"), ("models", None)],
                           "appears twice"),
    "file under a file": ([("task.toml", MANIFEST), ("m", b"x"), ("m/w.bin", b"y")],
                          "both a file and a directory"),
}


@pytest.mark.parametrize("case", sorted(BAD_BUNDLES))
def test_unpack_refuses_ambiguous_layouts(tmp_path: Path, case: str) -> None:
    members, why = BAD_BUNDLES[case]
    (tmp_path / "b.tar.gz").write_bytes(_tar(members))
    with pytest.raises(BundleError, match=why):
        unpack(tmp_path / "b.tar.gz", tmp_path / "out")
    assert not (tmp_path / "out").exists(), "nothing is written for a refused bundle"


async def _release_unchecked(app: Any, data: bytes) -> None:
    """Store a signed release the way a compromised or older service would: unchecked."""
    sha = hashlib.sha256(data).hexdigest()

    async def chunks() -> Any:
        yield data

    await app.state.blobs.put(sha, chunks(), 1 << 30)
    await app.state.store.add_blob(sha, len(data))
    st, sig = sign(KEY, {"kind": "release", "task": "demo", "version": "1.0.0",
                         "bundle_sha256": sha, "bundle_size": len(data),
                         "manifest_sha256": "0" * 64})
    await app.state.store.add_release(st, sig)


@pytest.mark.parametrize("case", [*sorted(BAD_BUNDLES), "disk full"])
def test_worker_reports_each_failure_and_lives_on(tmp_path: Path, case: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect 4: a duplicate member, a file and a directory of one name, or an OS error
    while unpacking (disk full) killed the task's worker silently."""
    if case == "disk full":
        real, calls = bundle_mod.parse_manifest, []

        def full(data: bytes, where: str = bundle_mod.MANIFEST) -> Any:
            # the device's first unpack (1.0.0) runs out of disk after writing its files
            # (the service reads manifests with a "<archive>:task.toml" location)
            if where == bundle_mod.MANIFEST:
                calls.append(where)
                if len(calls) == 1:
                    raise OSError(errno.ENOSPC, "No space left on device")
            return real(data, where)

        monkeypatch.setattr(bundle_mod, "parse_manifest", full)
        data, why = b"", "No space left on device"
    else:
        members, why = BAD_BUNDLES[case]
        data = _tar(members)

    async def scenario() -> None:
        async with serving(config(tmp_path)) as (url, app), aiohttp.ClientSession() as s:
            dev = Device(url, tmp_path / "dev", [PUBKEY], enroll_token=ENROLL_TOKEN, session=s)
            await dev.start()
            try:
                pub = Publisher(url, PUB_TOKEN, KEY)
                await pub.accept(all_pending=True)
                if case == "disk full":
                    await pub.publish(make_task(tmp_path / "p", "demo", "1.0.0"))
                else:
                    await _release_unchecked(app, data)
                dep = await pub.deploy("demo", "1.0.0", stages=[100])
                state, detail = await dev.wait_result(dep["id"], 20)
                assert state == "failed" and why in detail, detail
                assert dev.installed("demo") is None, "never half-installed"
                tdir = tmp_path / "dev" / "tasks" / "demo"
                assert not list(tdir.glob(".staging-*")) and not list(tdir.glob("v/*"))
                await dev.reporter.flushed(10)
                failing = await pub.get("/api/v1/devices/failing")
                assert [f["deployment_id"] for f in failing] == [dep["id"]]
                assert why in failing[0]["error"]
                # the worker lives on: the next version of the task installs
                await pub.publish(make_task(tmp_path, "demo", "2.0.0"))
                dep2 = await pub.deploy("demo", "2.0.0", stages=[100])
                assert (await dev.wait_result(dep2["id"], 20))[0] == "installed"
                assert dev.installed("demo") == "2.0.0"
            finally:
                await dev.stop()

    run(scenario())


def test_outage_longer_than_retries_still_installs(tmp_path: Path) -> None:
    """Defect 6: an outage longer than the retry budget (~30 s with the default backoff)
    left devices failed for good; now downloads retry with backoff until it ends."""
    cdn_port = free_port()
    cfg = config(tmp_path, public_bundles=True,
                 bundle_url=f"http://127.0.0.1:{cdn_port}/b/{{sha256}}")

    async def scenario() -> None:
        async with serving(cfg) as (url, app), aiohttp.ClientSession() as s:
            dev = Device(url, tmp_path / "dev", [PUBKEY], enroll_token=ENROLL_TOKEN, session=s,
                         max_backoff_s=0.5)  # main's 8 tries then last ~4 s: the outage is 8 s
            await dev.start()
            runner = None
            try:
                pub = Publisher(url, PUB_TOKEN, KEY)
                await pub.accept(all_pending=True)
                await pub.publish(make_task(tmp_path, "demo", "1.0.0"))
                dep = await pub.deploy("demo", "1.0.0", stages=[100])
                await asyncio.sleep(8.0)  # the CDN is down
                assert dep["id"] not in dev.results, dev.results

                async def blob(request: web.Request) -> web.StreamResponse:
                    return web.FileResponse(app.state.blobs.path(request.match_info["sha"]))

                cdn = web.Application()
                cdn.router.add_get("/b/{sha}", blob)
                runner = web.AppRunner(cdn)
                await runner.setup()
                await web.TCPSite(runner, "127.0.0.1", cdn_port).start()
                state, detail = await dev.wait_result(dep["id"], 20)
                assert state == "installed", detail
            finally:
                await dev.stop()
                if runner is not None:
                    await runner.cleanup()

    run(scenario())
