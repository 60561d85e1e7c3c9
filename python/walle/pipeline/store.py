"""The embedded device store: SQLite in WAL mode.

One database holds the raw event buffer, operator state, trigger runs, the task queue and the
result outbox.  The pipeline writes one transaction per batch of events containing all of them
and the next stream offset, so after a crash or kill the store is at a batch boundary: the
producer resumes from ``offset`` and nothing is counted twice or lost.  Result sequence numbers
come from a counter in the same transactions (never from rowids, which SQLite may reuse after
deletes), so a result keeps its number across retries and restarts.

All access goes through one connection guarded by a lock: the ingest thread, task completions
and the uplink thread each hold it only for one short transaction.  Every SQLite failure
(corruption, disk full, a lock held too long) is raised as :class:`StoreError` naming the file
and the operation; the integrity of the file is checked when it is opened.

Identity: a store is one *stream* (a random id made when the file is created, so a recreated
store is a new stream whose sequence numbers cannot collide with the old one's at the
collector) and counts its *epochs* (each start of a pipeline on it); results carry
(stream, epoch, seq).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import StoreError

SCHEMA_VERSION = "2"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (off INTEGER PRIMARY KEY, ts REAL NOT NULL, id TEXT NOT NULL,
    page TEXT NOT NULL, items TEXT NOT NULL, args TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS state (op TEXT NOT NULL, k TEXT NOT NULL, v TEXT NOT NULL,
    PRIMARY KEY (op, k)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, key TEXT NOT NULL,
    kind TEXT NOT NULL, ts REAL NOT NULL, data TEXT NOT NULL, epoch INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS dead_letters (id INTEGER PRIMARY KEY, off INTEGER, kind TEXT NOT NULL,
    error TEXT NOT NULL, payload TEXT NOT NULL, at REAL NOT NULL);
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
# offset of the event (None for an uplink item), kind, error text, payload (JSON), wall time
DeadLetter = tuple[int | None, str, str, str, float]
# key, trigger, task, inputs (JSON text), first raw event the inputs refer to (or None)
TaskRow = tuple[str, str, str, str, int | None]


class Store:
    """The SQLite store of one pipeline.  ``path`` may be ":memory:" for tests.

    Raises StoreError if the file is not a readable store (corrupt, another database, a
    newer schema) or cannot be opened."""

    def __init__(self, path: str, synchronous: str = "NORMAL", check: bool = True) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.dropped_results = 0
        existed = path != ":memory:" and os.path.exists(path) and os.path.getsize(path) > 0
        with self._errors("open"):
            # WAL with synchronous=NORMAL survives process kills (the WAL is in the OS page
            # cache); use synchronous="FULL" to also survive power loss, at a cost per commit.
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                      timeout=10.0)
        try:
            self._open(existed, synchronous, check)
        except BaseException:
            self.db.close()
            raise

    def _open(self, existed: bool, synchronous: str, check: bool) -> None:
        with self._errors("open"):
            if existed:
                if check:
                    self._check_integrity()
                tables = {r[0] for r in self.db.execute(
                    "SELECT name FROM sqlite_master WHERE type='table'")}
                if tables and "meta" not in tables:   # (no tables: creation was interrupted)
                    raise StoreError(f"store {self.path!r}: an SQLite database but not a "
                                     f"pipeline store (no meta table)")
            if self.path != ":memory:":
                self.db.execute("PRAGMA auto_vacuum=INCREMENTAL")
                mode = self.db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if mode.lower() != "wal":
                    raise StoreError(f"store {self.path!r}: cannot enable WAL (got {mode!r})")
            self.db.execute(f"PRAGMA synchronous={synchronous}")
            # one transaction: a kill leaves all the tables or none
            self.db.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
        version = self.get_meta("schema")
        if version is None:
            self.set_meta({"schema": SCHEMA_VERSION, "stream": uuid.uuid4().hex})
        elif version == "1":
            self._migrate_v1()
        elif version != SCHEMA_VERSION:
            raise StoreError(f"store {self.path!r}: schema version {version}, "
                             f"expected {SCHEMA_VERSION}")
        self.stream: str = self.get_meta("stream", "")  # type: ignore[assignment]

    def _check_integrity(self) -> None:
        """PRAGMA quick_check: every page and index readable and consistent (O(size))."""
        try:
            bad = [r[0] for r in self.db.execute("PRAGMA quick_check(5)")]
        except sqlite3.DatabaseError as exc:
            bad = [str(exc)]
        if bad != ["ok"]:
            raise StoreError(f"store {self.path!r}: integrity check failed (the file is "
                             f"damaged; restore it or delete it to start empty): "
                             f"{'; '.join(bad)}")

    def _migrate_v1(self) -> None:
        """Schema 1 had no epochs and always joined items with \\x1f (schema 2 writes a JSON
        array when the joined text would start with "["); its results keep the stream ""
        under which a schema-1 collector stored them."""
        with self.transaction() as db:
            cols = [r[1] for r in db.execute("PRAGMA table_info(outbox)")]
            if "epoch" not in cols:
                db.execute("ALTER TABLE outbox ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0")
            rows = db.execute("SELECT off, items FROM events WHERE items LIKE '[%'").fetchall()
            db.executemany("UPDATE events SET items=? WHERE off=?",
                           [(json.dumps(items.split("\x1f")), off) for off, items in rows])
            self.set_meta({"schema": SCHEMA_VERSION, "stream": ""}, db)

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Raise SQLite failures as StoreError naming the file and the operation."""
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path!r}: {what}: {exc}") from exc

    def close(self) -> None:
        """Close the connection (the WAL is checkpointed by SQLite)."""
        with self.lock, self._errors("close"):
            self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic transaction under the store lock: everything written in it commits,
        or nothing does (then StoreError, or the body's exception, is raised)."""
        with self.lock:
            with self._errors("begin"):
                self.db.execute("BEGIN IMMEDIATE")
            try:
                with self._errors("write"):
                    yield self.db
                with self._errors("commit"):
                    self.db.execute("COMMIT")
            except BaseException:
                # SQLite has already rolled back after some failures (disk full at commit)
                if self.db.in_transaction:
                    try:
                        self.db.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass   # the original failure is the one to report
                raise

    # -- meta -------------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        with self.lock, self._errors("read meta"):
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

    def begin_epoch(self) -> int:
        """Count one more start of a pipeline on this store; returns the new epoch."""
        with self.transaction() as db:
            row = db.execute("SELECT v FROM meta WHERE k='epoch'").fetchone()
            epoch = int(row[0]) + 1 if row else 1
            self.set_meta({"epoch": str(epoch)}, db)
        return epoch

    # -- one batch --------------------------------------------------------------------------

    def write_batch(self, db: sqlite3.Connection, events: list[tuple],
                    state: list[tuple[str, str, str | None]], results: list[Result],
                    tasks: list[TaskRow], dead: list[DeadLetter], epoch: int) -> list[int]:
        """Inside a transaction: append raw events, apply state changes, append results with
        fresh sequence numbers, dead letters, enqueue tasks.  Returns the new task ids."""
        if events:
            db.executemany("INSERT INTO events VALUES (?,?,?,?,?,?)", events)
        puts = [(op, k, v) for op, k, v in state if v is not None]
        dels = [(op, k) for op, k, v in state if v is None]
        if puts:
            db.executemany("INSERT OR REPLACE INTO state VALUES (?,?,?)", puts)
        if dels:
            db.executemany("DELETE FROM state WHERE op=? AND k=?", dels)
        if results:
            self.append_results(db, results, epoch)
        if dead:
            self.add_dead_letters(db, dead)
        ids = []
        for row in tasks:
            ids.append(db.execute("INSERT INTO tasks (key, trigger, task, inputs, first_off) "
                                  "VALUES (?,?,?,?,?)", row).lastrowid)
        return ids

    def append_results(self, db: sqlite3.Connection, results: list[Result],
                       epoch: int = 0) -> None:
        """Inside a transaction: give results the next sequence numbers and queue them."""
        row = db.execute("SELECT v FROM meta WHERE k='next_seq'").fetchone()
        seq = int(row[0]) if row else 1
        db.executemany("INSERT INTO outbox VALUES (?,?,?,?,?,?)",
                       [(seq + i, *r, epoch) for i, r in enumerate(results)])
        db.execute("INSERT OR REPLACE INTO meta VALUES ('next_seq', ?)", (str(seq + len(results)),))

    def add_dead_letters(self, db: sqlite3.Connection, dead: list[DeadLetter]) -> None:
        """Inside a transaction: record events or results that could not be processed."""
        db.executemany("INSERT INTO dead_letters (off, kind, error, payload, at) "
                       "VALUES (?,?,?,?,?)", dead)

    def complete_tasks(self, db: sqlite3.Connection, done: list[tuple[int, Result]],
                       epoch: int = 0) -> int:
        """Inside a transaction: queue the results of completed tasks and remove the tasks,
        together, so each task's result exists once.  Returns how many were queued."""
        results = [result for task_id, result in done
                   if db.execute("DELETE FROM tasks WHERE id=?", (task_id,)).rowcount == 1]
        if results:
            self.append_results(db, results, epoch)
        return len(results)

    # -- reads ------------------------------------------------------------------------------

    def load_state(self) -> dict[str, list[tuple[str, str]]]:
        """All operator state rows, by operator uid."""
        out: dict[str, list[tuple[str, str]]] = {}
        with self.lock, self._errors("read state"):
            for op, k, v in self.db.execute("SELECT op, k, v FROM state"):
                out.setdefault(op, []).append((k, v))
        return out

    def state_ops(self) -> set[str]:
        """The uids of the operators that have stored state."""
        with self.lock, self._errors("read state"):
            return {r[0] for r in self.db.execute("SELECT DISTINCT op FROM state")}

    def rename_state(self, old: str, new: str) -> None:
        """Move operator ``old``'s state rows to the uid ``new``."""
        with self.transaction() as db:
            db.execute("UPDATE state SET op=? WHERE op=?", (new, old))

    def drop_state(self, uid: str) -> None:
        """Delete every state row of operator ``uid`` (an upgrade that drops its state)."""
        with self.transaction() as db:
            db.execute("DELETE FROM state WHERE op=?", (uid,))

    def pending_tasks(self) -> list[tuple[int, str, str, str, str]]:
        """Tasks queued but not completed: (id, key, trigger, task, inputs)."""
        with self.lock, self._errors("read tasks"):
            return self.db.execute("SELECT id, key, trigger, task, inputs FROM tasks "
                                   "ORDER BY id").fetchall()

    def first_task_offset(self, db: sqlite3.Connection) -> int | None:
        """The oldest raw event a pending task still needs (retention must keep it)."""
        return db.execute("SELECT min(first_off) FROM tasks").fetchone()[0]

    def events(self, start: int, end: int) -> list[tuple]:
        """Raw event rows with ``start <= off <= end``."""
        with self.lock, self._errors("read events"):
            return self.db.execute("SELECT off, ts, id, page, items, args FROM events "
                                   "WHERE off BETWEEN ? AND ? ORDER BY off",
                                   (start, end)).fetchall()

    def outbox(self, limit: int, after: int = 0) -> list[tuple[int, str, str, float, str]]:
        """The oldest unsent results with ``seq > after``: (seq, key, kind, ts, data)."""
        with self.lock, self._errors("read outbox"):
            return self.db.execute("SELECT seq, key, kind, ts, data FROM outbox WHERE seq > ? "
                                   "ORDER BY seq LIMIT ?", (after, limit)).fetchall()

    def outbox_epochs(self, seqs: list[int]) -> dict[int, int]:
        """The epoch of each of the results ``seqs``."""
        with self.lock, self._errors("read outbox"):
            return dict(self.db.execute(
                f"SELECT seq, epoch FROM outbox WHERE seq IN ({','.join('?' * len(seqs))})",
                seqs).fetchall())

    def outbox_size(self) -> int:
        with self.lock, self._errors("read outbox"):
            return self.db.execute("SELECT count(*) FROM outbox").fetchone()[0]

    def outbox_span(self) -> int:
        """An upper bound of the unsent results, in O(log n): newest seq - oldest seq + 1."""
        with self.lock, self._errors("read outbox"):
            lo, hi = self.db.execute("SELECT min(seq), max(seq) FROM outbox").fetchone()
        return 0 if lo is None else hi - lo + 1

    def ack(self, seqs: Iterable[int]) -> None:
        """The collector stored these results: remove them from the outbox."""
        with self.transaction() as db:
            db.executemany("DELETE FROM outbox WHERE seq=?", ((s,) for s in seqs))

    def dead_letter_results(self, rows: list[tuple[int, str, str, float, str]],
                            error: str) -> None:
        """Move results that can never be sent from the outbox to the dead letters."""
        now = time.time()
        with self.transaction() as db:
            for seq, key, kind, ts, data in rows:
                db.execute("DELETE FROM outbox WHERE seq=?", (seq,))
                payload = json.dumps({"seq": seq, "key": key, "kind": kind, "ts": ts,
                                      "stream": self.stream, "data": data})
                self.add_dead_letters(db, [(None, "uplink", error, payload, now)])

    def dead_letters(self) -> list[dict]:
        """Every dead letter: {offset, kind, error, payload (decoded), at}."""
        with self.lock, self._errors("read dead letters"):
            rows = self.db.execute("SELECT off, kind, error, payload, at FROM dead_letters "
                                   "ORDER BY id").fetchall()
        return [{"offset": off, "kind": kind, "error": err, "payload": json.loads(payload),
                 "at": at} for off, kind, err, payload, at in rows]

    def count(self, table: str) -> int:
        """Rows in ``table`` (a table of this schema)."""
        with self.lock, self._errors(f"count {table}"):
            return self.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    # -- retention --------------------------------------------------------------------------

    def size_bytes(self) -> int:
        """Bytes in use (pages not on the free list)."""
        with self.lock, self._errors("size"):
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
