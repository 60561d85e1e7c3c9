"""The rollout engine: publishing, deployments, stages, targeting, pause and rollback.

All state lives in the database, so a restarted service picks up exactly where it was:
the current stage and when it started, who is targeted, who reported what.

The fleet's *desired state* is a function of the deployments: for each task, a device
should run the newest deployment (release or rollback) whose policy and current stage
target it; a paused deployment reaches nobody new, a rolled-back one nobody at all.  A
device that enrolls, reconnects or polls is given exactly that, so devices that missed
a moment (offline, enrolled late, enrolled after a rollback) converge.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import secrets
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from packaging.version import InvalidVersion, Version

from . import bundle
from .blobs import BlobStore, check_sha
from .bus import Bus
from .errors import BundleError, ConflictError, PolicyError, SignatureError
from .hub import Hub
from .policy import Policy, parse_stages
from .signing import Verifier, sign
from .statuswriter import StatusWriter
from .store import Store

log = logging.getLogger("walle.deploy.rollout")
_VISIBLE = ("active", "paused", "superseded", "completed")  # states that still target devices
ROLLBACK_TTL_S = 30 * 86400  # the service's own rollback statements expire after this
Z_95 = 1.645  # one-sided 95% normal quantile for the failure-rate bound


@dataclass(frozen=True)
class Target:
    """A deployment as targeting sees it: its row, parsed policy and current percentage."""

    dep: dict[str, Any]
    policy: Policy
    percent: float


def wilson_lower(failed: int, n: int, z: float = Z_95) -> float:
    """Lower bound of the Wilson score interval of a failure rate ``failed / n``."""
    if n == 0:
        return 0.0
    p, z2 = failed / n, z * z
    centre = p + z2 / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, (centre - spread) / (1 + z2 / n))


def failure_verdict(failed: int, reports: int, threshold: float, min_reports: int) -> str | None:
    """The auto-pause reason, or None while the sample does not show the rate is too high.

    A rate measured on few reports is noisy (4 failures in 20 is 20%, yet fits a true
    rate of 6%), so the pause needs ``min_reports`` reports *and* the 95% lower bound
    of the rate above the threshold.
    """
    if reports < min_reports or failed == 0:
        return None
    low = wilson_lower(failed, reports)
    if low <= threshold:
        return None
    return (f"auto-paused: failure rate {failed / reports:.1%} ({failed} of {reports} reports "
            f"failed; 95% lower bound {low:.1%}) > threshold {threshold:.1%}")


class Rollout:
    """Business logic of the service; the HTTP layer only parses and authenticates."""

    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        verifier: Verifier,
        signing_key: Ed25519PrivateKey | None = None,
        bundle_url: str = "/bundles/{sha256}",
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.hub = Hub()
        self.verifier = verifier
        self.signing_key = signing_key
        self.bundle_url = bundle_url
        self.writer = StatusWriter(store, self.check_failures)
        self.bus = Bus(store.db, self._changed_elsewhere)
        self._targets: dict[str, list[Target]] | None = None
        self._targets_at = 0.0
        self._lock = asyncio.Lock()  # one deployment change at a time

    # -- releases -----------------------------------------------------------------------

    async def publish(self, statement: dict[str, Any], signature: str) -> dict[str, Any]:
        """Accept a signed release whose bundle was uploaded and matches the statement."""
        self.verifier.verify(statement, signature)
        if statement["kind"] != "release":
            raise SignatureError("only a 'release' statement can be published")
        sha = check_sha(str(statement["bundle_sha256"]))
        _version(statement["version"])
        size = await self.store.blob_size(sha)
        if size is None:
            raise BundleError(f"bundle {sha} was not uploaded; PUT /api/v1/blobs/{sha} first")
        if size != int(statement["bundle_size"]):
            raise BundleError(f"bundle {sha} is {size} bytes, statement says {statement['bundle_size']}")
        man = await asyncio.to_thread(bundle.read_manifest, self.blobs.path(sha))
        for field, got, want in (("name", man.name, statement["task"]),
                                 ("version", man.version, statement["version"]),
                                 ("manifest sha256", man.sha256, statement["manifest_sha256"])):
            if got != want:
                raise BundleError(f"bundle {field} is {got!r} but the statement says {want!r}")
        rel_id = await self.store.add_release(statement, signature)
        return {"id": rel_id, "task": man.name, "version": man.version, "sha256": sha}

    # -- deployments --------------------------------------------------------------------

    async def create(
        self,
        task: str,
        version: str,
        policy: dict[str, Any] | None = None,
        stages: list[Any] | None = None,
        fail_threshold: float = 0.2,
        min_reports: int = 20,
        salt: str | None = None,
    ) -> dict[str, Any]:
        """Start deploying a published version; it supersedes older deployments of the task."""
        rel = await self.store.release(task, version)
        pol, stg = Policy.from_dict(policy), parse_stages(stages)
        if not 0 < fail_threshold <= 1:
            raise PolicyError(f"fail_threshold {fail_threshold} is not in (0, 1]")
        now = time.time()
        row = {
            "task": task, "release_id": rel["id"], "kind": "release", "rollback_of": None,
            "salt": salt or secrets.token_hex(8), "policy": json.dumps(pol.to_dict()),
            "stages": json.dumps([s.__dict__ for s in stg]), "stage_index": 0,
            "stage_started_at": now, "state": "active", "reason": "",
            "fail_threshold": fail_threshold, "min_reports": max(1, int(min_reports)),
            "statement": rel["statement"], "signature": rel["signature"], "created_at": now,
        }
        async with self._lock:
            dep_id = await self.store.add_deployment(row, supersede=True)
            self._targets = None
            await self._expand(dep_id)
        await self.bus.publish(dep_id)
        return await self.summary(dep_id)

    async def advance(self, dep_id: int) -> dict[str, Any]:
        """Move to the next stage (by command or by the schedule)."""
        async with self._lock:
            dep = await self.store.deployment(dep_id)
            stages = json.loads(dep["stages"])
            if dep["state"] != "active":
                raise ConflictError(f"deployment {dep_id} is {dep['state']}, not active")
            if dep["stage_index"] + 1 >= len(stages):
                raise ConflictError(f"deployment {dep_id} is already at its last stage")
            # conditional on the stage we read: another instance's scheduler may be faster
            if not await self.store.advance_stage(dep_id, dep["stage_index"]):
                raise ConflictError(f"deployment {dep_id} was advanced or paused meanwhile")
            self._targets = None
            await self._expand(dep_id)
        await self.bus.publish(dep_id)
        return await self.summary(dep_id)

    async def pause(self, dep_id: int, reason: str = "paused by operator") -> dict[str, Any]:
        """Stop notifying devices that were not notified yet; stages stop advancing."""
        async with self._lock:
            dep = await self.store.deployment(dep_id)
            if dep["state"] != "active":
                raise ConflictError(f"deployment {dep_id} is {dep['state']}, not active")
            await self.store.update_deployment(dep_id, state="paused", reason=reason)
            self._targets = None
        log.warning("deployment %s paused: %s", dep_id, reason)
        return await self.summary(dep_id)

    async def resume(self, dep_id: int) -> dict[str, Any]:
        """Resume a paused deployment; the current stage's clock restarts."""
        async with self._lock:
            dep = await self.store.deployment(dep_id)
            if dep["state"] != "paused":
                raise ConflictError(f"deployment {dep_id} is {dep['state']}, not paused")
            await self.store.update_deployment(
                dep_id, state="active", reason="", stage_started_at=time.time()
            )
            self._targets = None
            await self._expand(dep_id)
        await self.bus.publish(dep_id)
        return await self.summary(dep_id)

    async def rollback(
        self, dep_id: int, statement: dict[str, Any] | None = None, signature: str | None = None
    ) -> dict[str, Any]:
        """Send every device of a deployment back to the task's previous version.

        Devices refuse downgrades unless told by a signed rollback statement naming the
        version they roll back from; it comes from the publisher or, if configured, is
        signed here with the service's key.
        """
        async with self._lock:
            dep = await self.store.deployment(dep_id)
            if dep["kind"] != "release" or dep["state"] == "rolled_back":
                raise ConflictError(f"deployment {dep_id} cannot be rolled back ({dep['state']})")
            prev_id = await self.store.previous_release_id(dep["task"], dep_id)
            if prev_id is None:
                raise ConflictError(f"task {dep['task']!r} has no previous version to roll back to")
            prev = await self.store.release_by_id(prev_id)
            cur = await self.store.release_by_id(dep["release_id"])
            statement, signature = self._rollback_statement(prev, cur, statement, signature)
            now = time.time()
            row = {
                "task": dep["task"], "release_id": prev_id, "kind": "rollback",
                "rollback_of": dep_id, "salt": dep["salt"], "policy": dep["policy"],
                "stages": json.dumps([{"percent": 100.0, "hold_s": None}]), "stage_index": 0,
                "stage_started_at": now, "state": "active",
                "reason": f"rollback of deployment {dep_id} to {prev['version']}",
                "fail_threshold": dep["fail_threshold"], "min_reports": dep["min_reports"],
                "statement": json.dumps(statement, sort_keys=True), "signature": signature,
                "created_at": now,
            }
            new_id = await self.store.add_deployment(row, supersede=True)
            await self.store.update_deployment(
                dep_id, state="rolled_back", reason=f"rolled back by deployment {new_id}"
            )
            await self.store.add_targets(new_id, await self.store.targeted(dep_id))
            self._targets = None
            await self._notify_pending(new_id)
        await self.bus.publish(new_id)
        return await self.summary(new_id)

    def _rollback_statement(
        self, prev: dict[str, Any], cur: dict[str, Any],
        statement: dict[str, Any] | None, signature: str | None,
    ) -> tuple[dict[str, Any], str]:
        base = json.loads(prev["statement"])
        want = {
            "kind": "rollback", "task": prev["task"], "version": prev["version"],
            "bundle_sha256": prev["bundle_sha256"], "bundle_size": prev["bundle_size"],
            "manifest_sha256": base["manifest_sha256"], "from_version": cur["version"],
        }
        if statement is None or signature is None:
            if self.signing_key is None:
                raise ConflictError(
                    "the service has no --signing-key to sign rollbacks: start it with one "
                    "(walle deploy keygen --out service.pem) or sign as publisher "
                    "(walle deploy rollback ID --key publisher.pem)"
                )
            return sign(self.signing_key, want, ttl_s=ROLLBACK_TTL_S)
        self.verifier.verify(statement, signature)
        wrong = [k for k, v in want.items() if statement.get(k) != v]
        if statement.get("expires", 0) < time.time():
            wrong.append("expires")
        if wrong:
            raise SignatureError(f"rollback statement does not match the rollback: {wrong}")
        return statement, signature

    # -- targeting and notices ----------------------------------------------------------

    async def _expand(self, dep_id: int) -> None:
        """Target every matching device at the current stage and notify the new ones."""
        dep = await self.store.deployment(dep_id)
        if dep["kind"] == "release" and dep["state"] == "active":
            policy = Policy.from_dict(json.loads(dep["policy"]))
            pct = float(json.loads(dep["stages"])[dep["stage_index"]]["percent"])
            have = await self.store.targeted(dep_id)
            new = [d for d, attrs in await self.store.accepted_devices()
                   if d not in have and policy.targets(dep["salt"], pct, d, attrs)]
            await self.store.add_targets(dep_id, new)
        await self._notify_pending(dep_id)

    async def _changed_elsewhere(self, dep_id: int) -> None:
        """Another instance changed a deployment: notify our own connected devices."""
        self._targets = None
        await self._notify_pending(dep_id)

    async def _notify_pending(self, dep_id: int) -> None:
        """Push a notice to each connected device of the deployment not yet notified."""
        dep = await self.store.deployment(dep_id)
        pending = await self.store.unnotified(dep_id)
        msg = self.notice(dep)
        sent = await self.hub.send_many({d: msg for d in pending})
        self._mark_notified(dep_id, sent)

    def _mark_notified(self, dep_id: int, device_ids: list[str]) -> None:
        now = time.time()
        self.writer.submit_nowait([
            {"deployment": dep_id, "device_id": d, "state": "notified", "ts": now}
            for d in device_ids
        ])

    def notice(self, dep: dict[str, Any]) -> dict[str, Any]:
        """The small message a device receives: what to install and the signed proof."""
        st = json.loads(dep["statement"])
        return {
            "type": "notice", "deployment": dep["id"], "task": st["task"],
            "version": st["version"], "sha256": st["bundle_sha256"], "size": st["bundle_size"],
            "url": self.bundle_url.format(sha256=st["bundle_sha256"]),
            "statement": st, "signature": dep["signature"],
        }

    async def targets(self) -> dict[str, list[Target]]:
        """Per task, the deployments that still target devices, newest first (cached 1 s).

        A deployment whose stored policy or stages cannot be parsed is left out and
        logged: it must not stop the devices of any other deployment from converging.
        """
        if self._targets is None or time.monotonic() - self._targets_at > 1.0:
            out: dict[str, list[Target]] = {}
            for d in await self.store.deployments(states=_VISIBLE):
                try:
                    pct = float(json.loads(d["stages"])[d["stage_index"]]["percent"])
                    target = Target(d, Policy.from_dict(json.loads(d["policy"])), pct)
                except Exception as exc:  # noqa: BLE001 - one bad row must not stop the fleet
                    log.error("deployment %s is unreadable and targets nobody: %s", d["id"], exc)
                    continue
                out.setdefault(d["task"], []).append(target)
            self._targets, self._targets_at = out, time.monotonic()
        return self._targets

    async def desired(self, device_id: str, attrs: dict[str, Any],
                      known: set[int]) -> dict[str, dict[str, Any]]:
        """Per task, the deployment the device should follow (see the module docstring).

        ``known`` are deployments the device is already targeted by: a paused one keeps
        those devices but reaches no new one.
        """
        out: dict[str, dict[str, Any]] = {}
        for task, targets in (await self.targets()).items():
            for t in targets:
                if t.dep["state"] == "paused" and t.dep["id"] not in known:
                    continue
                if t.policy.targets(t.dep["salt"], t.percent, device_id, attrs):
                    out[task] = t.dep
                    break
        return out

    async def on_connect(self, device_id: str, attrs: dict[str, Any] | None) -> list[dict[str, Any]]:
        """The notices of a (re)connecting device's desired state; it is targeted by them.

        ``attrs`` None means the operator has not accepted the device: it gets nothing.
        """
        if attrs is None:
            return []
        rows = {r["id"]: r for r in await self.store.device_rows(device_id)}
        want = await self.desired(device_id, attrs, set(rows))
        notices = []
        for dep in want.values():
            if dep["id"] not in rows:
                await self.store.add_targets(dep["id"], [device_id])
            if rows.get(dep["id"], {}).get("notified_at") is None:
                self._mark_notified(dep["id"], [device_id])
            notices.append(self.notice(dep))
        return notices

    async def push_desired(self, device_ids: list[str]) -> None:
        """Send connected devices their desired state now (after the operator accepted them)."""
        if not await self.targets():
            return  # no deployment yet: nothing to send
        for device_id in device_ids:
            if not self.hub.connected(device_id):
                continue
            row = await self.store.device_by_id(device_id)
            if row is None or row["state"] != "accepted":
                continue
            for n in await self.on_connect(device_id, row["attrs"]):
                await self.hub.send(device_id, n)

    # -- reports, auto-pause, schedule --------------------------------------------------

    async def report(self, device_id: str, reports: list[dict[str, Any]]) -> int:
        """Record a device's status reports; returns when they are durably committed."""
        now = time.time()
        rows = [{"deployment": int(r["deployment"]), "device_id": device_id,
                 "state": r["state"], "detail": r.get("detail", ""),
                 "ts": min(float(r.get("ts") or now), now)} for r in reports]
        await self.writer.submit(rows)
        return len(rows)

    async def check_failures(self, dep_ids: set[int]) -> None:
        """Pause each active deployment whose failure rate is surely above its threshold."""
        counts = await self.store.counts(dep_ids)
        for dep_id, c in counts.items():
            if not c["failed"]:
                continue
            dep = await self.store.deployment(dep_id)
            reason = failure_verdict(c["failed"], c["installed"] + c["failed"],
                                     dep["fail_threshold"], dep["min_reports"])
            if dep["state"] == "active" and reason is not None:
                with contextlib.suppress(ConflictError):  # paused concurrently
                    await self.pause(dep_id, reason)
                await self.store.audit("service", "auto-pause", f"deployment {dep_id}", reason)

    async def tick(self) -> None:
        """Advance every active deployment whose current stage has been held long enough.

        Each deployment is handled on its own: one that fails is paused with the error
        as its reason, and the others still advance.
        """
        now = time.time()
        for dep in await self.store.deployments(states=["active"]):
            try:
                stages = json.loads(dep["stages"])
                hold = stages[dep["stage_index"]].get("hold_s")
                due = hold is not None and now - dep["stage_started_at"] >= float(hold)
                if due and dep["stage_index"] + 1 < len(stages):
                    await self.advance(dep["id"])
            except ConflictError:
                pass  # paused or advanced meanwhile
            except Exception as exc:
                log.exception("deployment %s: scheduled stage advance failed", dep["id"])
                with contextlib.suppress(Exception):
                    await self.pause(dep["id"], f"scheduler stopped: {type(exc).__name__}: {exc}")

    async def summary(self, dep_id: int) -> dict[str, Any]:
        """A deployment with its stage and live counts, as the API and page show it."""
        dep = await self.store.deployment(dep_id)
        return self.describe(dep, (await self.store.counts([dep_id])).get(dep_id))

    def describe(self, dep: dict[str, Any], counts: dict[str, int] | None) -> dict[str, Any]:
        """JSON view of a deployment row plus counts."""
        st = json.loads(dep["statement"])
        stages = json.loads(dep["stages"])
        return {
            "id": dep["id"], "task": dep["task"], "version": st["version"], "kind": dep["kind"],
            "rollback_of": dep["rollback_of"], "state": dep["state"], "reason": dep["reason"],
            "stage": dep["stage_index"], "stages": stages,
            "percent": stages[dep["stage_index"]]["percent"],
            "policy": json.loads(dep["policy"]), "fail_threshold": dep["fail_threshold"],
            "min_reports": dep["min_reports"], "created_at": dep["created_at"],
            "counts": counts or dict.fromkeys(
                ("targeted", "notified", "downloaded", "installed", "failed"), 0),
        }


def _version(value: Any) -> Version:
    try:
        return Version(str(value))
    except InvalidVersion as exc:
        raise BundleError(f"version {value!r} is not a PEP 440 version like '1.2.0'") from exc
