"""Helpers shared by the pipeline tests and the kill-test worker: a compact event maker, and the
deterministic pipeline and event stream of the crash tests."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from walle.pipeline import Count, Distinct, LastN, Pipeline, Session, Sum, Tumbling
from walle.pipeline.collector import CollectorServer


def events(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    pages = ["home", "feed", "item", "cart"]
    out, t = [], 1_700_000_000.0
    for _ in range(n):
        t += rng.uniform(0.05, 2.0)
        eid = rng.choice(["page_enter", "page_leave", "click", "exposure", "scroll", "add_cart"])
        out.append({"ts": round(t, 3), "id": eid, "page": rng.choice(pages),
                    "items": [f"i{rng.randrange(50)}"], "args": {"v": rng.randrange(10)}})
    return out


def task(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """A deterministic task: its result depends only on its inputs."""
    return {"n_events": len(inputs["events"]), "first": inputs["events"][0]["id"],
            "bindings": inputs["bindings"]}


def build(store: str, uplink_url: str | None = None, commit_every: int = 50) -> Pipeline:
    p = Pipeline(store, sink=task, uplink_url=uplink_url, device_id="dev-kill",
                 commit_every=commit_every, commit_interval=3600,
                 uplink_options={"interval": 0.05, "min_backoff": 0.05, "max_backoff": 0.5,
                                 "batch_size": 64})
    p.trigger("visit", "page_enter(page=$p) * page_leave(page=$p)", within=60)
    p.trigger("buy", "click add_cart", within=30)
    (p.flow("per_page").key_by("page").window(Tumbling(30))
     .aggregate(n=Count(), items=Distinct("item"), v=Sum("args.v")).emit())
    (p.flow("sessions").key_by("page").window(Session("page_enter", "page_leave", gap=120))
     .aggregate(n=Count(), last=LastN(3, "id")).emit())
    return p


def ev(ts: float, eid: str, page: str = "", items=(), **args) -> dict:
    """A compact event dict for tests."""
    return {"ts": ts, "id": eid, "page": page, "items": list(items), "args": args}


@contextmanager
def serve(db: str, **options: Any) -> Iterator[CollectorServer]:
    """A collector on a free loopback port, in a thread, for the duration of the block."""
    server = CollectorServer("127.0.0.1", 0, db, **options)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
