"""The service's relational schema and engine (SQLite by default, PostgreSQL by URL).

Only SQLAlchemy Core with portable types is used, so the same statements run on both.
Times are float epoch seconds (portable, and cheap to compare in the scheduler).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from .errors import DeployError

metadata = MetaData()

releases = Table(
    "releases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task", String(200), nullable=False),
    Column("version", String(100), nullable=False),
    Column("bundle_sha256", String(64), nullable=False),
    Column("bundle_size", Integer, nullable=False),
    Column("statement", Text, nullable=False),  # canonical JSON, exactly as signed
    Column("signature", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("task", "version", name="uq_release_task_version"),
)

blobs = Table(
    "blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
)

devices = Table(
    "devices",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("state", String(20), nullable=False, default="pending"),  # pending|accepted|revoked
    Column("attrs", Text, nullable=False),  # JSON: what policies match, set by the operator
    Column("claimed", Text, nullable=False, default="{}"),  # JSON: what the device said
    Column("registered_at", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
)

deployments = Table(
    "deployments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task", String(200), nullable=False, index=True),
    Column("release_id", Integer, ForeignKey("releases.id"), nullable=False),
    Column("kind", String(20), nullable=False),  # release | rollback
    Column("rollback_of", Integer, nullable=True),
    Column("salt", String(64), nullable=False),
    Column("policy", Text, nullable=False),  # JSON
    Column("stages", Text, nullable=False),  # JSON
    Column("stage_index", Integer, nullable=False),
    Column("stage_started_at", Float, nullable=False),
    Column("state", String(20), nullable=False),  # active|paused|completed|rolled_back
    Column("reason", Text, nullable=False, default=""),
    Column("fail_threshold", Float, nullable=False),
    Column("min_reports", Integer, nullable=False),
    Column("statement", Text, nullable=False),
    Column("signature", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

device_status = Table(
    "device_status",
    metadata,
    Column("deployment_id", Integer, ForeignKey("deployments.id"), primary_key=True),
    Column("device_id", String(100), primary_key=True),
    Column("targeted_at", Float, nullable=False),
    Column("notified_at", Float, nullable=True),
    Column("downloaded_at", Float, nullable=True),
    Column("installed_at", Float, nullable=True),
    Column("failed_at", Float, nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_status_device", "device_id"),
)

status_history = Table(  # every report a device sent, for the operator's per-device view
    "status_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", String(100), nullable=False),
    Column("deployment_id", Integer, nullable=False),
    Column("state", String(20), nullable=False),
    Column("detail", Text, nullable=False),
    Column("ts", Float, nullable=False),
    Index("ix_history_device", "device_id", "id"),
)

audit_log = Table(  # operator actions: who did what to which deployment or device, and when
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", Float, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(50), nullable=False),
    Column("target", String(200), nullable=False),
    Column("detail", Text, nullable=False),
)


def normalize_url(url: str) -> str:
    """Map plain ``sqlite:///`` and ``postgresql://`` URLs to their async drivers."""
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url[len("sqlite:") :]
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Database:
    """An async engine plus the one rule SQLite needs: a single writer at a time.

    SQLite allows one writer; serialising writes in-process avoids "database is locked"
    retries under load.  PostgreSQL needs no such lock, so it gets a no-op.
    """

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict[str, object] = {}
        if not self.is_sqlite:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        try:
            self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        except Exception as exc:  # bad URL or missing driver: say which
            raise DeployError(f"cannot use database URL {url!r}: {exc}") from exc
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    async def create(self) -> None:
        """Create missing tables (idempotent)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one committed transaction, serialised on SQLite."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads (no commit needed)."""
        async with self.engine.connect() as conn:
            yield conn

    async def close(self) -> None:
        """Release pooled connections."""
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    # WAL lets readers run beside the writer; NORMAL still survives a process crash.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
