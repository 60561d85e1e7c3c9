"""Refusals: tampered bundle, wrong signature, older version, ``../`` paths, credentials."""

from __future__ import annotations

import asyncio
import io
import tarfile
from pathlib import Path

import aiohttp
import pytest
from helpers import ENROLL_TOKEN, KEY, PUB_TOKEN, PUBKEY, config, make_task, run, serving
from walle.deploy import BundleError, Device, Publisher, SignatureError, VersionRefused
from walle.deploy.bundle import pack_dir, unpack
from walle.deploy.installer import Installer
from walle.deploy.publisher import prepare, release_statement
from walle.deploy.signing import Verifier, generate_key, public_key_b64, sign


def _evil_tar(tmp: Path, member: str) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("task.toml", b'name = "evil"\nversion = "1.0.0"\n'), (member, b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path = tmp / "evil.tar.gz"
    path.write_bytes(buf.getvalue())
    return path


@pytest.mark.parametrize("member", ["../escape.txt", "models/../../escape.txt", "/etc/evil"])
def test_unsafe_paths_refused_before_writing(tmp_path: Path, member: str) -> None:
    with pytest.raises(BundleError, match="unsafe path"):
        unpack(_evil_tar(tmp_path, member), tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "escape.txt").exists()


def test_links_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("link")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    (tmp_path / "l.tar.gz").write_bytes(buf.getvalue())
    with pytest.raises(BundleError, match="links and devices are refused"):
        unpack(tmp_path / "l.tar.gz", tmp_path / "out")


def _signed(tmp: Path, version: str, key=KEY, kind: str = "release", **extra: str):  # type: ignore[no-untyped-def]
    data, man = prepare(make_task(tmp, "demo", version))
    archive = tmp / f"demo-{version}.tar.gz"
    archive.write_bytes(data)
    st, sig = sign(key, dict(release_statement(data, man), kind=kind, **extra))
    return st, sig, archive


def _unstamped(statement: dict, **changes: str) -> dict:  # type: ignore[type-arg]
    """A statement to sign afresh: without the old serial, expiry and key id."""
    return {k: v for k, v in statement.items() if k not in ("serial", "expires", "key_id")} | changes


def test_installer_refusals(tmp_path: Path) -> None:
    inst = Installer(tmp_path / "dev", Verifier([PUBKEY]))
    st1, sig1, a1 = _signed(tmp_path, "1.0.0")
    st2, _sig2, a2 = _signed(tmp_path, "2.0.0")
    inst.install(st2, a2)
    # an older version is refused without a rollback statement
    with pytest.raises(VersionRefused, match="older than installed 2.0.0"):
        inst.plan(st1, sig1)
    # a rollback that names another "from" version is refused (no replay of old rollbacks)
    rb, rsig = sign(KEY, _unstamped(st1, kind="rollback", from_version="1.5.0"))
    with pytest.raises(VersionRefused, match="does not apply to installed 2.0.0"):
        inst.plan(rb, rsig)
    rb, rsig = sign(KEY, _unstamped(st1, kind="rollback", from_version="2.0.0"))
    assert inst.plan(rb, rsig) == "install"
    # wrong signature: an unknown key, and a statement altered after signing
    other = generate_key()
    st3, sig3, _ = _signed(tmp_path, "3.0.0", key=other)
    with pytest.raises(SignatureError, match="unknown key"):
        inst.plan(st3, sig3)
    st4, sig4, _ = _signed(tmp_path, "4.0.0")
    with pytest.raises(SignatureError, match="signature does not match"):
        inst.plan(dict(st4, bundle_sha256="0" * 64), sig4)
    # a bundle whose manifest differs from what was signed is refused on install
    st5, _, _ = _signed(tmp_path, "5.0.0")
    with pytest.raises(BundleError, match="version is '1.0.0'"):
        inst.install(dict(st5, bundle_sha256=st1["bundle_sha256"]), a1)
    assert inst.current("demo")["version"] == "2.0.0"


def test_device_reports_refusals(tmp_path: Path) -> None:
    """Through the service: tampered bytes, a key the device does not pin, an old version."""
    other = generate_key()
    cfg = config(tmp_path, publisher_keys=[PUBKEY, public_key_b64(other)])

    async def scenario() -> None:
        async with serving(cfg) as (url, app), aiohttp.ClientSession() as s:
            dev = Device(url, tmp_path / "dev", [PUBKEY], enroll_token=ENROLL_TOKEN, session=s)
            await dev.start()
            try:
                await Publisher(url, PUB_TOKEN).accept(all_pending=True)
                pub, rogue = Publisher(url, PUB_TOKEN, KEY), Publisher(url, PUB_TOKEN, other)
                rel = await pub.publish(make_task(tmp_path, "demo", "2.0.0"))
                blob = app.state.blobs.path(rel["sha256"])
                good = blob.read_bytes()
                blob.write_bytes(good[:-10] + b"0123456789")  # tamper with the stored bundle
                dep = await pub.deploy("demo", "2.0.0", stages=[100])
                state, why = await dev.wait_result(dep["id"], 20)
                assert state == "failed" and "bundle tampered: sha256 mismatch" in why
                blob.write_bytes(good)
                app.state.blobs._cache.clear()  # the tampered bytes were cached when served
                dep = await pub.deploy("demo", "2.0.0", stages=[100])
                assert (await dev.wait_result(dep["id"], 20))[0] == "installed"
                await rogue.publish(make_task(tmp_path, "demo", "3.0.0"))
                dep = await pub.deploy("demo", "3.0.0", stages=[100])
                state, why = await dev.wait_result(dep["id"], 20)
                assert state == "failed" and "unknown key" in why
                await pub.publish(make_task(tmp_path, "demo", "1.0.0"))
                dep = await pub.deploy("demo", "1.0.0", stages=[100])
                state, why = await dev.wait_result(dep["id"], 20)
                assert state == "failed" and "older than installed 2.0.0" in why
                assert dev.installed("demo") == "2.0.0"
                await dev.reporter.flushed(10)
                got = await pub.get(f"/api/v1/deployments/{dep['id']}")
                assert got["counts"]["failed"] == 1
            finally:
                await dev.stop()

    run(scenario())


def test_credentials_are_separate(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serving(config(tmp_path)) as (url, _), aiohttp.ClientSession() as s:
            async with s.post(f"{url}/api/v1/devices/register", json={"device_id": "a"},
                              headers={"Authorization": f"Bearer {ENROLL_TOKEN}"}) as r:
                tok = (await r.json())["token"]
            dev_h = {"Authorization": f"Bearer {tok}"}
            async with s.get(f"{url}/api/v1/deployments", headers=dev_h) as r:
                assert r.status == 401 and "not a publisher credential" in await r.text()
            async with s.get(f"{url}/api/v1/device/assignments",
                             headers={"Authorization": f"Bearer {PUB_TOKEN}"}) as r:
                assert r.status == 401
            pub = Publisher(url, PUB_TOKEN, KEY)
            rel = await pub.publish(make_task(tmp_path, "demo", "1.0.0"))
            async with s.get(f"{url}/bundles/{rel['sha256']}", headers=dev_h) as r:
                assert r.status == 404 and "not deployed to device a" in await r.text()
            async with s.get(f"{url}/openapi.json") as r:
                paths = (await r.json())["paths"]
            assert "/api/v1/deployments" in paths and "/bundles/{sha256}" in paths
            # a release signed by a key the service does not trust is refused at publish
            st, sig = sign(generate_key(), release_statement(*prepare(
                make_task(tmp_path, "demo", "9.0.0"))))
            async with s.post(f"{url}/api/v1/releases", json={"statement": st, "signature": sig},
                              headers={"Authorization": f"Bearer {PUB_TOKEN}"}) as r:
                assert r.status == 422 and "unknown key" in await r.text()
            # an evil archive is refused at publish time too
            evil = _evil_tar(tmp_path, "../x").read_bytes()
            import hashlib

            sha = hashlib.sha256(evil).hexdigest()
            async with s.put(f"{url}/api/v1/blobs/{sha}", data=evil,
                             headers={"Authorization": f"Bearer {PUB_TOKEN}"}) as r:
                assert r.status == 201
            st, sig = sign(KEY, {"kind": "release", "task": "evil", "version": "1.0.0",
                                 "bundle_sha256": sha, "bundle_size": len(evil),
                                 "manifest_sha256": "0" * 64})
            async with s.post(f"{url}/api/v1/releases", json={"statement": st, "signature": sig},
                              headers={"Authorization": f"Bearer {PUB_TOKEN}"}) as r:
                assert r.status == 422 and "unsafe path" in await r.text()

    run(scenario())


def test_resumes_partial_download(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serving(config(tmp_path)) as (url, app), aiohttp.ClientSession() as s:
            pub = Publisher(url, PUB_TOKEN, KEY)
            data = pack_dir(make_task(tmp_path, "demo", "1.0.0", payload=200_000))
            rel = await pub.publish(make_task(tmp_path / "again", "demo", "1.0.0", 200_000))
            del data
            blob = app.state.blobs.path(rel["sha256"]).read_bytes()
            part = tmp_path / "dev" / "downloads" / f"{rel['sha256']}.part"
            part.parent.mkdir(parents=True)
            part.write_bytes(blob[: len(blob) // 2])  # as if a download was cut half-way
            dev = Device(url, tmp_path / "dev", [PUBKEY], enroll_token=ENROLL_TOKEN, session=s)
            await dev.start()
            try:
                await pub.accept(all_pending=True)
                dep = await pub.deploy("demo", "1.0.0", stages=[100])
                assert (await dev.wait_result(dep["id"], 20))[0] == "installed"
            finally:
                await dev.stop()
            m = app.state.metrics
            assert m["bundle_range_requests"] == 1
            assert m["bundle_bytes"] == len(blob) - len(blob) // 2

    run(scenario())


def test_bundle_http_semantics(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serving(config(tmp_path)) as (url, _), aiohttp.ClientSession() as s:
            rel = await Publisher(url, PUB_TOKEN, KEY).publish(make_task(tmp_path))
            h = {"Authorization": f"Bearer {PUB_TOKEN}"}
            burl = f"{url}/bundles/{rel['sha256']}"
            async with s.get(burl, headers=h) as r:
                full, etag = await r.read(), r.headers["ETag"]
                assert "immutable" in r.headers["Cache-Control"]
            async with s.get(burl, headers=h | {"If-None-Match": etag}) as r:
                assert r.status == 304
            async with s.get(burl, headers=h | {"Range": "bytes=10-19"}) as r:
                assert r.status == 206 and await r.read() == full[10:20]
            async with s.get(burl, headers=h | {"Range": "bytes=10-", "If-Range": '"x"'}) as r:
                assert r.status == 200 and await r.read() == full

    run(scenario())


def test_gather_is_bounded() -> None:
    # guard: the helpers' run() enforces a timeout
    with pytest.raises(asyncio.TimeoutError):
        run(asyncio.sleep(5), timeout=0.1)
