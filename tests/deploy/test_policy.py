"""Targeting as a pure function: staged percentages over 10,000 users, filters, lists."""

from __future__ import annotations

import pytest
from walle.deploy import PolicyError
from walle.deploy.policy import Policy, bucket, in_percent, parse_stages

USERS = [f"user-{i}" for i in range(10_000)]


@pytest.mark.parametrize("salt", ["a", "deploy-17", "3f9c0e1d2b4a5968"])
@pytest.mark.parametrize("percent", [1, 10, 50, 100])
def test_stage_fraction_within_one_point(salt: str, percent: float) -> None:
    hit = sum(in_percent(salt, u, percent) for u in USERS)
    assert abs(100 * hit / len(USERS) - percent) <= 1.0, (salt, percent, hit)


def test_stages_only_grow() -> None:
    # a user in the 1% stage stays in at 10% and 50%: the bucket is fixed per deployment
    for u in USERS[:2000]:
        ins = [in_percent("s", u, p) for p in (1, 10, 50, 100)]
        assert ins == sorted(ins)
    assert bucket("s", "user-1") != bucket("t", "user-1") or bucket("s", "user-2") != bucket(
        "t", "user-2"
    )


def test_filters_and_lists() -> None:
    p = Policy(app_version=">=2.3,<3", os=["android"], os_version=">=12", models=["px7"],
               tiers=["high"], regions=["eu"], allow=["vip"], deny=["banned"])
    base = {"app_version": "2.4.1", "os": "android", "os_version": "13", "model": "px7",
            "tier": "high", "region": "eu", "user_id": "u1"}
    assert p.targets("s", 100, "d1", base)
    for field, bad in (("app_version", "3.0"), ("os", "ios"), ("os_version", "11"),
                       ("model", "px6"), ("tier", "low"), ("region", "us"),
                       ("app_version", "not-a-version")):
        assert not p.targets("s", 100, "d1", dict(base, **{field: bad})), field
    assert p.targets("s", 0.01, "vip", {"os": "ios"})  # allow-list beats filters and stage
    assert not p.targets("s", 100, "d1", dict(base, user_id="banned"))  # deny beats all
    assert not Policy(allow=["x"], deny=["x"]).targets("s", 100, "x", {})


def test_bad_policies_are_named() -> None:
    with pytest.raises(PolicyError, match="policy: region: unknown field"):
        Policy.from_dict({"region": ["eu"]})
    with pytest.raises(PolicyError, match="not a version range"):
        Policy.from_dict({"app_version": "about two"})
    with pytest.raises(PolicyError, match="stages must increase"):
        parse_stages([10, 5])
    with pytest.raises(PolicyError, match="stages.0: percent: Input should be greater than 0"):
        parse_stages([0])
    assert [s.percent for s in parse_stages(None)] == [1, 10, 50, 100]
