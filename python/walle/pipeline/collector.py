"""The cloud-side collector: receives uplinked result batches and stores each result once.

    python -m walle.pipeline.collector --port 8080 --db collector.db [--host 127.0.0.1]

``POST /v1/results`` takes ``{"device": str, "stream": str, "results": [{"seq", "epoch",
"key", "kind", "ts", "data"}, ...]}`` (optionally ``Content-Encoding: deflate``; ``stream``
and ``epoch`` may be absent: "" and 0) and inserts them with ``PRIMARY KEY (device, stream,
seq)`` so that re-sent results are de-duplicated and a device's recreated store (a new stream)
never collides with its old one; it answers ``{"stored": n, "duplicates": m}`` only after the
SQLite commit.  A body over ``max_body`` bytes is answered 413.  ``GET /v1/results?device=D``
lists a device's results, ``GET /healthz`` answers ``ok``.  With ``--port 0`` the chosen port is
printed on the first line of stdout (``listening on http://HOST:PORT``).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from .errors import PipelineError

MAX_BODY = 16 * 1024 * 1024        # compressed request body
MAX_INFLATED = 128 * 1024 * 1024   # refuse zip bombs


class CollectorStore:
    """The collector's SQLite database."""

    def __init__(self, path: str) -> None:
        self.lock = threading.Lock()
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        if path != ":memory:":
            self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS results_v2 (device TEXT NOT NULL, "
                        "stream TEXT NOT NULL, seq INTEGER NOT NULL, epoch INTEGER NOT NULL, "
                        "key TEXT NOT NULL, kind TEXT NOT NULL, ts REAL NOT NULL, "
                        "data TEXT NOT NULL, PRIMARY KEY (device, stream, seq))")
        old = self.db.execute("SELECT 1 FROM sqlite_master WHERE name='results'").fetchone()
        if old:   # schema 1 had no streams: its results are stream "" (as old devices send)
            self.db.executescript("BEGIN; INSERT OR IGNORE INTO results_v2 SELECT device, '', "
                                  "seq, 0, key, kind, ts, data FROM results; "
                                  "DROP TABLE results; COMMIT;")

    def insert(self, device: str, stream: str,
               results: list[dict[str, Any]]) -> tuple[int, int]:
        rows = [(device, stream, r["seq"], r.get("epoch", 0), r["key"], r["kind"], r["ts"],
                 json.dumps(r["data"], separators=(",", ":"))) for r in results]
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                before = self.db.total_changes
                self.db.executemany("INSERT OR IGNORE INTO results_v2 VALUES (?,?,?,?,?,?,?,?)", rows)
                stored = self.db.total_changes - before
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        return stored, len(rows) - stored

    def results(self, device: str) -> list[dict[str, Any]]:
        with self.lock:
            rows = self.db.execute("SELECT stream, epoch, seq, key, kind, ts, data FROM "
                                   "results_v2 WHERE device=? ORDER BY stream, seq",
                                   (device,)).fetchall()
        return [{"stream": st, "epoch": ep, "seq": s, "key": k, "kind": kd, "ts": ts,
                 "data": json.loads(d)} for st, ep, s, k, kd, ts, d in rows]


def validate_batch(doc: Any) -> tuple[str, str, list[dict[str, Any]]]:
    """Check a batch; raise PipelineError naming the field at fault."""
    if not isinstance(doc, dict):
        raise PipelineError("batch must be a JSON object")
    device = doc.get("device")
    if not isinstance(device, str) or not device:
        raise PipelineError("batch field 'device' must be a non-empty string")
    stream = doc.get("stream", "")
    if not isinstance(stream, str):
        raise PipelineError("batch field 'stream' must be a string")
    results = doc.get("results")
    if not isinstance(results, list):
        raise PipelineError("batch field 'results' must be a list")
    for i, r in enumerate(results):
        if not isinstance(r, dict):
            raise PipelineError(f"batch field 'results[{i}]' must be an object")
        if not isinstance(r.get("seq"), int) or isinstance(r.get("seq"), bool) or r["seq"] < 1:
            raise PipelineError(f"batch field 'results[{i}].seq' must be an int >= 1")
        for f, t in (("key", str), ("kind", str), ("ts", (int, float))):
            if not isinstance(r.get(f), t):
                raise PipelineError(f"batch field 'results[{i}].{f}' has the wrong type")
        if "data" not in r:
            raise PipelineError(f"batch field 'results[{i}].data' is missing")
        epoch = r.get("epoch", 0)
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
            raise PipelineError(f"batch field 'results[{i}].epoch' must be an int >= 0")
    return device, stream, results


class _Handler(BaseHTTPRequestHandler):
    server: CollectorServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would dominate the output of a busy collector

    def _reply(self, code: int, doc: Any) -> None:
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path == "/healthz":
            self._reply(200, "ok")
        elif url.path == "/v1/results":
            device = parse_qs(url.query).get("device", [""])[0]
            self._reply(200, {"results": self.server.store.results(device)})
        else:
            self._reply(404, {"error": f"no such path {url.path!r}"})

    def do_POST(self) -> None:
        if urlparse(self.path).path != "/v1/results":
            self._reply(404, {"error": f"no such path {self.path!r}"})
            return
        try:
            length = int(self.headers.get("Content-Length", "-1"))
        except ValueError:
            length = -1
        limit = self.server.max_body
        if not 0 <= length <= limit:
            left = min(length, MAX_INFLATED)   # drain what the client sends, so that it
            while left > 0:                    # reads our answer instead of a reset
                chunk = self.rfile.read(min(65536, left))
                if not chunk:
                    break
                left -= len(chunk)
            self._reply(413 if length > limit else 411,
                        {"error": f"body of {length} bytes; the limit is {limit}"})
            self.close_connection = True    # the unread body must not be parsed as a request
            return
        body = self.rfile.read(length)
        try:
            if self.headers.get("Content-Encoding", "") == "deflate":
                inflater = zlib.decompressobj()
                body = inflater.decompress(body, MAX_INFLATED)
                if inflater.unconsumed_tail:
                    raise PipelineError("inflated body is too large")
            device, stream, results = validate_batch(json.loads(body))
        except (ValueError, zlib.error, PipelineError) as exc:
            self._reply(400, {"error": str(exc)})
            return
        stored, dups = self.server.store.insert(device, stream, results)
        self._reply(200, {"stored": stored, "duplicates": dups})


class CollectorServer(ThreadingHTTPServer):
    """An HTTP collector bound to ``host:port`` with its store at ``db``."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, port: int, db: str, max_body: int = MAX_BODY) -> None:
        self.store = CollectorStore(db)
        self.max_body = max_body
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1/results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m walle.pipeline.collector",
                                     description="Walle result collector")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    args = parser.parse_args(argv)
    server = CollectorServer(args.host, args.port, args.db)
    host, port = server.server_address[:2]
    print(f"listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
