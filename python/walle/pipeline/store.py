"""The embedded device store: SQLite in WAL mode.

One database holds the raw event buffer, operator state, trigger runs, the task queue and the
result outbox.  The pipeline writes one transaction per batch of events containing all of them
and the next stream offset, so after a crash or kill the store is at a batch boundary: the
producer resumes from ``offset`` and nothing is counted twice or lost.  Result sequence numbers
come from a counter in the same transactions (never from rowids, which SQLite may reuse after
deletes), so a result keeps its number across retries and restarts.

All access goes through one connection guarded by a lock: the ingest thread, task completions
and the uplink thread each hold it only for one short transaction.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import StoreError

SCHEMA_VERSION = "1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (off INTEGER PRIMARY KEY, ts REAL NOT NULL, id TEXT NOT NULL,
    page TEXT NOT NULL, items TEXT NOT NULL, args TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS state (op TEXT NOT NULL, k TEXT NOT NULL, v TEXT NOT NULL,
    PRIMARY KEY (op, k)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, key TEXT NOT NULL,
    kind TEXT NOT NULL, ts REAL NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE,
    trigger TEXT NOT NULL, task TEXT NOT NULL, inputs TEXT NOT NULL, first_off INTEGER);
"""


@dataclass(frozen=True)
class Retention:
    """How much the store keeps.

    Attributes:
        max_age: raw events older than this many seconds of event time (behind the
            watermark) are deleted.
        max_bytes: when the database is larger, the oldest raw events are deleted first,
            then the oldest unsent results (counted in ``dropped_results``).
        every: apply retention every this many commits.
    """

    max_age: float = 7 * 86400.0
    max_bytes: int = 256 * 1024 * 1024
    every: int = 32


Result = tuple[str, str, float, str]            # key, kind, ts, data (JSON text)
# key, trigger, task, inputs (JSON text), first raw event the inputs refer to (or None)
TaskRow = tuple[str, str, str, str, int | None]


class Store:
    """The SQLite store of one pipeline.  ``path`` may be ":memory:" for tests."""

    def __init__(self, path: str, synchronous: str = "NORMAL") -> None:
        self.path = path
        self.lock = threading.RLock()
        self.dropped_results = 0
        try:
            # WAL with synchronous=NORMAL survives process kills (the WAL is in the OS page
            # cache); use synchronous="FULL" to also survive power loss, at a cost per commit.
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                      timeout=10.0)
            if path != ":memory:":
                self.db.execute("PRAGMA auto_vacuum=INCREMENTAL")
                mode = self.db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if mode.lower() != "wal":
                    raise StoreError(f"store {path!r}: cannot enable WAL (got {mode!r})")
            self.db.execute(f"PRAGMA synchronous={synchronous}")
            self.db.executescript(_SCHEMA)
            version = self.get_meta("schema")
            if version is None:
                self.set_meta({"schema": SCHEMA_VERSION})
            elif version != SCHEMA_VERSION:
                raise StoreError(f"store {path!r}: schema version {version}, "
                                 f"expected {SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            raise StoreError(f"store {path!r}: {exc}") from exc

    def close(self) -> None:
        """Close the connection (the WAL is checkpointed by SQLite)."""
        with self.lock:
            self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic transaction under the store lock."""
        with self.lock:
            try:
                self.db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"store {self.path!r}: cannot begin: {exc}") from exc
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            try:
                self.db.execute("COMMIT")
            except sqlite3.Error as exc:
                self.db.execute("ROLLBACK")
                raise StoreError(f"store {self.path!r}: commit failed: {exc}") from exc

    # -- meta -------------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        with self.lock:
            row = self.db.execute("SELECT v FROM meta WHERE k=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, values: dict[str, str], db: sqlite3.Connection | None = None) -> None:
        """Set meta keys, inside the caller's transaction when ``db`` is given."""
        sql = "INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)"
        if db is not None:
            db.executemany(sql, values.items())
            return
        with self.transaction() as tx:
            tx.executemany(sql, values.items())

    # -- one batch --------------------------------------------------------------------------

    def write_batch(self, db: sqlite3.Connection, events: list[tuple],
                    state: list[tuple[str, str, str | None]], results: list[Result],
                    tasks: list[TaskRow]) -> list[int]:
        """Inside a transaction: append raw events, apply state changes, append results with
        fresh sequence numbers, enqueue tasks.  Returns the new task ids."""
        if events:
            db.executemany("INSERT INTO events VALUES (?,?,?,?,?,?)", events)
        puts = [(op, k, v) for op, k, v in state if v is not None]
        dels = [(op, k) for op, k, v in state if v is None]
        if puts:
            db.executemany("INSERT OR REPLACE INTO state VALUES (?,?,?)", puts)
        if dels:
            db.executemany("DELETE FROM state WHERE op=? AND k=?", dels)
        if results:
            self.append_results(db, results)
        ids = []
        for row in tasks:
            ids.append(db.execute("INSERT INTO tasks (key, trigger, task, inputs, first_off) "
                                  "VALUES (?,?,?,?,?)", row).lastrowid)
        return ids

    def append_results(self, db: sqlite3.Connection, results: list[Result]) -> None:
        """Inside a transaction: give results the next sequence numbers and queue them."""
        row = db.execute("SELECT v FROM meta WHERE k='next_seq'").fetchone()
        seq = int(row[0]) if row else 1
        db.executemany("INSERT INTO outbox VALUES (?,?,?,?,?)",
                       [(seq + i, *r) for i, r in enumerate(results)])
        db.execute("INSERT OR REPLACE INTO meta VALUES ('next_seq', ?)", (str(seq + len(results)),))

    def complete_tasks(self, db: sqlite3.Connection, done: list[tuple[int, Result]]) -> int:
        """Inside a transaction: queue the results of completed tasks and remove the tasks,
        together, so each task's result exists once.  Returns how many were queued."""
        results = [result for task_id, result in done
                   if db.execute("DELETE FROM tasks WHERE id=?", (task_id,)).rowcount == 1]
        if results:
            self.append_results(db, results)
        return len(results)

    # -- reads ------------------------------------------------------------------------------

    def load_state(self) -> dict[str, list[tuple[str, str]]]:
        """All operator state rows, by operator name."""
        out: dict[str, list[tuple[str, str]]] = {}
        with self.lock:
            for op, k, v in self.db.execute("SELECT op, k, v FROM state"):
                out.setdefault(op, []).append((k, v))
        return out

    def pending_tasks(self) -> list[tuple[int, str, str, str, str]]:
        """Tasks queued but not completed: (id, key, trigger, task, inputs)."""
        with self.lock:
            return self.db.execute("SELECT id, key, trigger, task, inputs FROM tasks "
                                   "ORDER BY id").fetchall()

    def first_task_offset(self, db: sqlite3.Connection) -> int | None:
        """The oldest raw event a pending task still needs (retention must keep it)."""
        return db.execute("SELECT min(first_off) FROM tasks").fetchone()[0]

    def events(self, start: int, end: int) -> list[tuple]:
        """Raw event rows with ``start <= off <= end``."""
        with self.lock:
            return self.db.execute("SELECT off, ts, id, page, items, args FROM events "
                                   "WHERE off BETWEEN ? AND ? ORDER BY off",
                                   (start, end)).fetchall()

    def outbox(self, limit: int) -> list[tuple[int, str, str, float, str]]:
        """The oldest unsent results: (seq, key, kind, ts, data)."""
        with self.lock:
            return self.db.execute("SELECT seq, key, kind, ts, data FROM outbox "
                                   "ORDER BY seq LIMIT ?", (limit,)).fetchall()

    def outbox_size(self) -> int:
        with self.lock:
            return self.db.execute("SELECT count(*) FROM outbox").fetchone()[0]

    def ack(self, seqs: Iterable[int]) -> None:
        """The collector stored these results: remove them from the outbox."""
        with self.transaction() as db:
            db.executemany("DELETE FROM outbox WHERE seq=?", ((s,) for s in seqs))

    # -- retention --------------------------------------------------------------------------

    def size_bytes(self) -> int:
        """Bytes in use (pages not on the free list)."""
        with self.lock:
            pages = self.db.execute("PRAGMA page_count").fetchone()[0]
            free = self.db.execute("PRAGMA freelist_count").fetchone()[0]
            size = self.db.execute("PRAGMA page_size").fetchone()[0]
        return (pages - free) * size

    def apply_retention(self, db: sqlite3.Connection, policy: Retention, watermark: float,
                        keep_from: int | None) -> None:
        """Inside a transaction: delete old raw events (never those at or after ``keep_from``,
        which an open trigger run still needs), then, while over size, the oldest events and
        finally the oldest unsent results."""
        guard = keep_from if keep_from is not None else 1 << 62
        db.execute("DELETE FROM events WHERE ts < ? AND off < ?",
                   (watermark - policy.max_age, guard))
        for _ in range(64):     # bounded: each round deletes a slice of the oldest rows
            pages, free, psize = (db.execute(f"PRAGMA {p}").fetchone()[0]
                                  for p in ("page_count", "freelist_count", "page_size"))
            if (pages - free) * psize <= policy.max_bytes:
                break
            n = db.execute("DELETE FROM events WHERE off IN (SELECT off FROM events "
                           "WHERE off < ? ORDER BY off LIMIT 4096)", (guard,)).rowcount
            if n == 0:
                n = db.execute("DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox "
                               "ORDER BY seq LIMIT 1024)").rowcount
                self.dropped_results += n
                if n == 0:
                    break
        if self.path != ":memory:":
            db.execute("PRAGMA incremental_vacuum(256)")
