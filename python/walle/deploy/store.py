"""Repository: every query the service runs, as async functions over :class:`Database`.

Keeping SQL in one place keeps the HTTP layer free of it and makes the SQLite/PostgreSQL
differences (only "insert if absent") visible in one function.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from .db import (
    Database,
    audit_log,
    blobs,
    deployments,
    device_status,
    devices,
    releases,
    status_history,
)
from .errors import ConflictError, NotFoundError

STATES = ("notified", "downloaded", "installed", "failed")


class Store:
    """Async data access for the deployment service."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- blobs and releases -------------------------------------------------------------

    async def add_blob(self, sha256: str, size: int) -> None:
        """Record a stored blob (idempotent: the bytes are content addressed)."""
        async with self.db.write() as conn:
            await conn.execute(self._insert_ignore(blobs, ["sha256"]), [
                {"sha256": sha256, "size": size, "created_at": time.time()}
            ])

    async def blob_size(self, sha256: str) -> int | None:
        """Size of a stored blob, or None when it is unknown."""
        async with self.db.read() as conn:
            row = (await conn.execute(select(blobs.c.size).where(blobs.c.sha256 == sha256))).first()
        return None if row is None else int(row[0])

    async def add_release(self, statement: dict[str, Any], signature: str) -> int:
        """Insert a verified release; a (task, version) pair can be published once."""
        row = {
            "task": statement["task"],
            "version": statement["version"],
            "bundle_sha256": statement["bundle_sha256"],
            "bundle_size": int(statement["bundle_size"]),
            "statement": json.dumps(statement, sort_keys=True),
            "signature": signature,
            "created_at": time.time(),
        }
        try:
            async with self.db.write() as conn:
                res = await conn.execute(insert(releases).values(**row))
        except IntegrityError as exc:
            raise ConflictError(
                f"task {row['task']!r} version {row['version']!r} is already published"
            ) from exc
        return int(res.inserted_primary_key[0])  # type: ignore[index]

    async def release(self, task: str, version: str) -> dict[str, Any]:
        """One release by task and version."""
        async with self.db.read() as conn:
            q = select(releases).where(releases.c.task == task, releases.c.version == version)
            row = (await conn.execute(q)).mappings().first()
        if row is None:
            raise NotFoundError(f"task {task!r} has no published version {version!r}")
        return dict(row)

    async def release_by_id(self, release_id: int) -> dict[str, Any]:
        """One release by id."""
        async with self.db.read() as conn:
            q = select(releases).where(releases.c.id == release_id)
            row = (await conn.execute(q)).mappings().first()
        if row is None:
            raise NotFoundError(f"release id {release_id} does not exist")
        return dict(row)

    async def releases(self, task: str | None = None) -> list[dict[str, Any]]:
        """All releases, newest first, optionally of one task."""
        q = select(releases).order_by(releases.c.id.desc())
        if task is not None:
            q = q.where(releases.c.task == task)
        async with self.db.read() as conn:
            return [dict(r) for r in (await conn.execute(q)).mappings()]

    # -- devices ------------------------------------------------------------------------

    async def add_device(self, device_id: str, token_hash: str, claimed: dict[str, Any]) -> None:
        """Register a pending device; what it claims is kept apart from what policies match."""
        now = time.time()
        row = {"id": device_id, "token_hash": token_hash, "state": "pending", "attrs": "{}",
               "claimed": json.dumps(claimed), "registered_at": now, "last_seen": now}
        try:
            async with self.db.write() as conn:
                await conn.execute(insert(devices).values(**row))
        except IntegrityError as exc:
            raise ConflictError(f"device id {device_id!r} is already registered") from exc

    async def device_by_token(self, token_hash: str) -> tuple[str, str, dict[str, Any]] | None:
        """(device id, state, approved attributes) for a token hash, or None."""
        async with self.db.read() as conn:
            q = select(devices.c.id, devices.c.state, devices.c.attrs).where(
                devices.c.token_hash == token_hash)
            row = (await conn.execute(q)).first()
        return None if row is None else (row[0], row[1], json.loads(row[2]))

    async def device_by_id(self, device_id: str) -> dict[str, Any] | None:
        """A device's registry row (attrs and claimed decoded), or None."""
        async with self.db.read() as conn:
            row = (await conn.execute(select(devices).where(devices.c.id == device_id))).mappings().first()
        if row is None:
            return None
        return dict(row, attrs=json.loads(row["attrs"]), claimed=json.loads(row["claimed"]))

    async def accepted_devices(self) -> list[tuple[str, dict[str, Any]]]:
        """Every accepted device with its approved attributes (for fleet-wide targeting)."""
        q = select(devices.c.id, devices.c.attrs).where(devices.c.state == "accepted")
        async with self.db.read() as conn:
            return [(r[0], json.loads(r[1])) for r in await conn.execute(q)]

    async def list_devices(self, state: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Registered devices (id, state, attrs, claimed, times), optionally of one state."""
        q = select(devices.c.id, devices.c.state, devices.c.attrs, devices.c.claimed,
                   devices.c.registered_at).order_by(devices.c.id).limit(limit)
        if state is not None:
            q = q.where(devices.c.state == state)
        async with self.db.read() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return [dict(r, attrs=json.loads(r["attrs"]), claimed=json.loads(r["claimed"]))
                for r in rows]

    async def set_devices(self, ids: list[str], state: str,
                          attrs: dict[str, Any] | None = None) -> list[str]:
        """Set state (and approved attrs; None = each device's claimed ones); returns ids."""
        ids = sorted(set(ids))
        async with self.db.write() as conn:
            found: set[str] = set()
            for k in range(0, len(ids), 500):  # bounded IN lists
                q = select(devices.c.id).where(devices.c.id.in_(ids[k : k + 500]))
                found.update(r[0] for r in await conn.execute(q))
            missing = [d for d in ids if d not in found]
            if missing:
                raise NotFoundError(f"device(s) not registered: {', '.join(missing[:10])}")
            values: dict[str, Any] = {"state": state}
            if state == "accepted":  # one statement however many devices
                values["attrs"] = devices.c.claimed if attrs is None else json.dumps(attrs)
            for k in range(0, len(ids), 500):
                await conn.execute(update(devices).where(devices.c.id.in_(ids[k : k + 500]))
                                   .values(**values))
        return ids

    async def pending_ids(self) -> list[str]:
        """Ids of devices waiting for the operator."""
        q = select(devices.c.id).where(devices.c.state == "pending")
        async with self.db.read() as conn:
            return [r[0] for r in await conn.execute(q)]

    async def device_states(self) -> dict[str, int]:
        """Number of registered devices per state."""
        q = select(devices.c.state, func.count()).group_by(devices.c.state)
        async with self.db.read() as conn:
            return {r[0]: int(r[1]) for r in await conn.execute(q)}

    async def device_count(self) -> int:
        """Number of registered devices."""
        async with self.db.read() as conn:
            return int((await conn.execute(select(func.count()).select_from(devices))).scalar_one())

    # -- deployments --------------------------------------------------------------------

    async def add_deployment(self, row: dict[str, Any], supersede: bool) -> int:
        """Insert a deployment; with ``supersede``, older live ones of the task stop growing."""
        async with self.db.write() as conn:
            if supersede:
                await conn.execute(
                    update(deployments)
                    .where(deployments.c.task == row["task"],
                           deployments.c.state.in_(("active", "paused")))
                    .values(state="superseded", reason="a newer deployment of the task exists")
                )
            res = await conn.execute(insert(deployments).values(**row))
        return int(res.inserted_primary_key[0])  # type: ignore[index]

    async def deployment(self, dep_id: int) -> dict[str, Any]:
        """One deployment row."""
        async with self.db.read() as conn:
            q = select(deployments).where(deployments.c.id == dep_id)
            row = (await conn.execute(q)).mappings().first()
        if row is None:
            raise NotFoundError(f"deployment {dep_id} does not exist")
        return dict(row)

    async def deployments(self, states: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Deployments, newest first, optionally only in ``states``."""
        q = select(deployments).order_by(deployments.c.id.desc())
        if states is not None:
            q = q.where(deployments.c.state.in_(tuple(states)))
        async with self.db.read() as conn:
            return [dict(r) for r in (await conn.execute(q)).mappings()]

    async def update_deployment(self, dep_id: int, **values: Any) -> None:
        """Change fields of a deployment."""
        async with self.db.write() as conn:
            await conn.execute(update(deployments).where(deployments.c.id == dep_id).values(**values))

    async def advance_stage(self, dep_id: int, from_index: int) -> bool:
        """Move an active deployment from stage ``from_index`` to the next; False if it is
        no longer active at that stage (another instance or request got there first)."""
        async with self.db.write() as conn:
            res = await conn.execute(
                update(deployments)
                .where(deployments.c.id == dep_id, deployments.c.stage_index == from_index,
                       deployments.c.state == "active")
                .values(stage_index=from_index + 1, stage_started_at=time.time()))
        return bool(res.rowcount)

    async def previous_release_id(self, task: str, before_id: int) -> int | None:
        """Release of the newest release-kind deployment of ``task`` before ``before_id``."""
        q = (
            select(deployments.c.release_id)
            .where(deployments.c.task == task, deployments.c.id < before_id,
                   deployments.c.kind == "release", deployments.c.state != "rolled_back")
            .order_by(deployments.c.id.desc())
            .limit(1)
        )
        async with self.db.read() as conn:
            row = (await conn.execute(q)).first()
        return None if row is None else int(row[0])

    # -- per-device status --------------------------------------------------------------

    async def targeted(self, dep_id: int) -> set[str]:
        """Ids of devices already targeted by a deployment."""
        async with self.db.read() as conn:
            q = select(device_status.c.device_id).where(device_status.c.deployment_id == dep_id)
            return {r[0] for r in await conn.execute(q)}

    async def unnotified(self, dep_id: int) -> list[str]:
        """Targeted devices of a deployment that were not notified yet."""
        q = select(device_status.c.device_id).where(
            device_status.c.deployment_id == dep_id, device_status.c.notified_at.is_(None)
        )
        async with self.db.read() as conn:
            return [r[0] for r in await conn.execute(q)]

    async def add_targets(self, dep_id: int, device_ids: Iterable[str]) -> None:
        """Mark devices as targeted (rows that exist are kept as they are)."""
        now = time.time()
        rows = [{"deployment_id": dep_id, "device_id": d, "targeted_at": now} for d in device_ids]
        if rows:
            async with self.db.write() as conn:
                await conn.execute(self._insert_ignore(device_status, ["deployment_id", "device_id"]), rows)

    async def history(self, device_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """A device's latest status reports, newest first."""
        h = status_history.c
        q = (select(h.deployment_id, h.state, h.detail, h.ts).where(h.device_id == device_id)
             .order_by(h.id.desc()).limit(limit))
        async with self.db.read() as conn:
            return [dict(r) for r in (await conn.execute(q)).mappings()]

    async def failing(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest failed (device, deployment) pairs with their error texts."""
        s = device_status.c
        q = (select(s.device_id, s.deployment_id, s.failed_at, s.error)
             .where(s.failed_at.is_not(None), s.installed_at.is_(None))
             .order_by(s.failed_at.desc()).limit(limit))
        async with self.db.read() as conn:
            return [dict(r) for r in (await conn.execute(q)).mappings()]

    async def audit(self, actor: str, action: str, target: str, detail: str = "") -> None:
        """Append an operator action to the audit log."""
        async with self.db.write() as conn:
            await conn.execute(insert(audit_log).values(
                ts=time.time(), actor=actor, action=action, target=target, detail=detail[:4000]))

    async def audit_entries(self, limit: int = 200) -> list[dict[str, Any]]:
        """The latest audit log entries, newest first."""
        q = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        async with self.db.read() as conn:
            return [dict(r) for r in (await conn.execute(q)).mappings()]

    async def apply(self, reports: list[dict[str, Any]]) -> set[int]:
        """Apply status reports in one transaction; returns the deployments touched.

        A state's time is set once (COALESCE), so a report retried after a lost
        acknowledgement changes nothing: reports are idempotent.
        """
        touched: set[int] = set()
        async with self.db.write() as conn:
            for state in STATES:
                batch = [r for r in reports if r["state"] == state]
                if not batch:
                    continue
                col = device_status.c[f"{state}_at"]
                values: dict[str, Any] = {col.name: func.coalesce(col, bindparam("ts"))}
                if state == "failed":
                    values["error"] = bindparam("err")
                stmt = (
                    update(device_status)
                    .where(device_status.c.deployment_id == bindparam("dep"),
                           device_status.c.device_id == bindparam("dev"))
                    .values(**values)
                )
                params = [{"dep": r["deployment"], "dev": r["device_id"], "ts": r["ts"],
                           "err": str(r.get("detail") or "")[:2000]} for r in batch]
                await conn.execute(stmt, params)
                touched.update(r["deployment"] for r in batch)
            history = [{"device_id": r["device_id"], "deployment_id": r["deployment"],
                        "state": r["state"], "detail": str(r.get("detail") or "")[:2000],
                        "ts": r["ts"]} for r in reports if r["state"] != "notified"]
            if history:
                await conn.execute(insert(status_history), history)
        return touched

    async def counts(self, dep_ids: Iterable[int] | None = None) -> dict[int, dict[str, int]]:
        """Live counts per deployment: targeted, notified, downloaded, installed, failed."""
        s = device_status.c
        q = select(
            s.deployment_id, func.count(), func.count(s.notified_at), func.count(s.downloaded_at),
            func.count(s.installed_at), func.count(s.failed_at),
        ).group_by(s.deployment_id)
        if dep_ids is not None:
            q = q.where(s.deployment_id.in_(tuple(dep_ids)))
        names = ("targeted", *STATES)
        async with self.db.read() as conn:
            return {r[0]: dict(zip(names, map(int, r[1:]))) for r in await conn.execute(q)}

    async def device_rows(self, device_id: str) -> list[dict[str, Any]]:
        """Deployments a device is in (with its status), newest deployment first."""
        q = (
            select(deployments, device_status.c.notified_at, device_status.c.installed_at)
            .join(device_status, device_status.c.deployment_id == deployments.c.id)
            .where(device_status.c.device_id == device_id)
            .order_by(deployments.c.id.desc())
        )
        async with self.db.read() as conn:
            return [dict(r) for r in (await conn.execute(q)).mappings()]

    async def device_has_bundle(self, device_id: str, sha256: str) -> bool:
        """Whether a bundle belongs to a release deployed to the device."""
        q = (
            select(func.count())
            .select_from(device_status.join(deployments).join(releases))
            .where(device_status.c.device_id == device_id, releases.c.bundle_sha256 == sha256)
        )
        async with self.db.read() as conn:
            return int((await conn.execute(q)).scalar_one()) > 0

    def _insert_ignore(self, table: Any, keys: list[str]) -> Any:
        # The one dialect-specific statement: "insert unless the key exists".
        dialect = sqlite if self.db.is_sqlite else postgresql
        return dialect.insert(table).on_conflict_do_nothing(index_elements=keys)
