"""Device identity (policies match operator-approved attributes, not a device's claims)
and signed statements with a serial and an expiry (no replay, no freeze)."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest
from helpers import (
    KEY,
    PUB_TOKEN,
    PUBKEY,
    accept,
    assignments,
    config,
    make_task,
    register,
    run,
    serving,
)
from walle.deploy import Publisher, VersionRefused
from walle.deploy.installer import Installer
from walle.deploy.publisher import prepare, release_statement
from walle.deploy.signing import Verifier, sign


def test_devices_cannot_choose_their_policy_attributes(tmp_path: Path) -> None:
    """Defect 9: with a shared enrollment token, any device could declare itself onto an
    allow list (or into a region)."""

    async def scenario() -> None:
        async with serving(config(tmp_path)) as (url, _), aiohttp.ClientSession() as s:
            pub = Publisher(url, PUB_TOKEN, KEY)
            await pub.publish(make_task(tmp_path, "demo", "1.0.0"))
            await pub.deploy("demo", "1.0.0", stages=[0.01], policy={"allow": ["vip"]})
            liar = await register(s, url, "liar", {"user_id": "vip", "region": "eu"})
            assert await assignments(s, url, liar) == {}, "a pending device gets nothing"
            pending = await pub.get("/api/v1/devices?state=pending")
            assert [(d["id"], d["claimed"]["user_id"]) for d in pending] == [("liar", "vip")]
            # the operator approves other attributes than the claimed ones
            await accept(s, url, ["liar"], attrs={"user_id": "u-123", "region": "eu"})
            assert await assignments(s, url, liar) == {}, "not on the allow list"
            honest = await register(s, url, "vip-phone", {"user_id": "vip"})
            await accept(s, url, ["vip-phone"])  # claims approved as they are
            assert (await assignments(s, url, honest))["demo"]["version"] == "1.0.0"
            row = await pub.get("/api/v1/devices/liar")
            assert row["state"] == "accepted" and row["attrs"]["user_id"] == "u-123"
            assert "token_hash" not in row
            # a revoked device's credential stops working at once
            await pub.action_path("/api/v1/devices/vip-phone/revoke")
            async with s.get(f"{url}/api/v1/device/assignments",
                             headers={"Authorization": f"Bearer {honest}"}) as r:
                assert r.status == 401 and "revoked" in await r.text()
            actions = [e["action"] for e in await pub.get("/api/v1/audit")]
            assert actions[:3] == ["revoke", "accept", "accept"] and "create" in actions

    run(scenario())


def _signed(tmp: Path, version: str, **extra: object) -> tuple[dict, str, Path]:  # type: ignore[type-arg]
    data, man = prepare(make_task(tmp, "demo", version))
    archive = tmp / f"demo-{version}.tar.gz"
    archive.write_bytes(data)
    st, sig = sign(KEY, release_statement(data, man) | extra)
    return st, sig, archive


def _rollback(to: dict, from_version: str, **extra: object) -> tuple[dict, str]:  # type: ignore[type-arg]
    base = {k: v for k, v in to.items() if k not in ("serial", "expires", "key_id")}
    return sign(KEY, base | {"kind": "rollback", "from_version": from_version} | extra)


def test_old_rollback_statement_cannot_be_replayed(tmp_path: Path) -> None:
    """Defect 10: an old signed rollback statement could be replayed."""
    inst = Installer(tmp_path / "dev", Verifier([PUBKEY]))
    st1, _sig1, a1 = _signed(tmp_path, "1.0.0")
    st2, sig2, a2 = _signed(tmp_path, "2.0.0")
    a1_again = tmp_path / "rollback.tar.gz"
    a1_again.write_bytes(a1.read_bytes())  # install() consumes its archive
    inst.install(st1, a1)
    assert inst.plan(st2, sig2) == "install"
    inst.install(st2, a2)
    rb, rb_sig = _rollback(st1, "2.0.0")  # the operator rolls 2.0.0 back ...
    assert inst.plan(rb, rb_sig) == "switch"
    inst.install(rb, a1_again)  # (what "switch" does, from the archive)
    assert inst.current("demo")["version"] == "1.0.0"
    _, _, a2b = _signed(tmp_path / "again", "2.0.0")
    assert inst.plan(st2, sig2) == "install"  # ... later 2.0.0 (fixed) goes out again
    inst.install(st2, a2b)
    with pytest.raises(VersionRefused, match="replay refused"):  # an attacker replays it
        inst.plan(rb, rb_sig)
    assert inst.current("demo")["version"] == "2.0.0"
    fresh, fresh_sig = _rollback(st1, "2.0.0")  # a new rollback statement still works
    assert inst.plan(fresh, fresh_sig) in ("switch", "install")


def test_expired_statements_are_refused(tmp_path: Path) -> None:
    """Freeze protection: a statement past its expiry is refused, release or rollback."""
    inst = Installer(tmp_path / "dev", Verifier([PUBKEY]))
    st, sig, _ = _signed(tmp_path, "1.0.0", expires=int(time.time()) - 10)
    with pytest.raises(VersionRefused, match="expired"):
        inst.plan(st, sig)
    ok, ok_sig, _ = _signed(tmp_path / "b", "1.0.0")
    assert ok["expires"] > time.time() + 86400 and isinstance(ok["serial"], int)
    assert inst.plan(ok, ok_sig) == "install"
