"""A realistic pipeline: the behaviour features a DIN-style CTR model takes.

Deep Interest Network (Zhou et al., KDD 2018) scores a candidate item against the user's
behaviour sequence.  The pipeline below derives, on the device, from raw page and click events:

* ``item_visits``: one session window per item page visit (``page_enter`` .. ``page_leave``
  of ``page=item``), giving the item, its category and the dwell time;
* ``recent_views``: the last 50 visits (a running last-N over all visits);
* ``cat_hour``: views per category over the last hour (a sliding window, 1 h every minute);
* the trigger ``rank_feed`` fires when the user enters the feed; its ``prepare`` snapshots the
  features as numpy arrays at that moment and the task feeds them to the model.

:func:`din_features` returns exactly what the model takes: ``item_seq`` int64 [1,50],
``cat_seq`` int64 [1,50], ``dwell`` float32 [1,50] (seconds), ``mask`` float32 [1,50],
``cat_hour_counts`` float32 [1,C] and ``target_item`` int64 [1,1].  The model is a parameter:
anything with ``run(dict) -> dict`` (``walle.load(path)``) or a plain callable.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Callable
from typing import Any

from .manifest import from_manifest
from .pipeline import Pipeline
from .sink import TaskSink

SEQ_LEN = 50
NUM_CATEGORIES = 32
SLIDE_S = 60.0

#: The DIN pipeline as the ``[pipeline]`` table of a task.toml (parsed).
DIN_MANIFEST: dict[str, Any] = {
    "commit_every": 500,
    "triggers": [
        {"name": "rank_feed", "pattern": "page_enter(page=feed)", "task": "din_rank",
         "within_s": 1},
    ],
    "flows": [
        {"name": "item_visits", "filter": "page_enter|page_leave(page=item)", "key_by": "item",
         "window": {"type": "session", "start": "page_enter", "end": "page_leave",
                    "gap_s": 1800},
         "aggregate": {"cat": "first(args.cat)"}},
        {"name": "recent_views", "source": "item_visits", "key_by": "'user'",
         "aggregate": {"views": f"last({SEQ_LEN}, key, cat, start, end)"}},
        {"name": "cat_hour", "filter": "page_enter(page=item)", "key_by": "args.cat",
         "window": {"type": "sliding", "size_s": 3600, "slide_s": SLIDE_S},
         "aggregate": {"n": "count"}},
    ],
}


def item_index(item_id: str, vocab: int = 1 << 20) -> int:
    """The model's integer id of an item: ``i<digits>`` maps to the number, others hash."""
    if item_id[:1] == "i" and item_id[1:].isdigit():
        return int(item_id[1:])
    return zlib.crc32(item_id.encode()) % vocab


def din_features(p: Pipeline, target_item: str = "", seq_len: int = SEQ_LEN,
                 num_categories: int = NUM_CATEGORIES) -> dict[str, Any]:
    """Snapshot the DIN inputs from the pipeline's state (call in the ingest thread)."""
    import numpy as np

    views = (p.query("recent_views", "user") or {"views": []})["views"][-seq_len:]
    feats = {
        "item_seq": np.zeros((1, seq_len), np.int64),
        "cat_seq": np.zeros((1, seq_len), np.int64),
        "dwell": np.zeros((1, seq_len), np.float32),
        "mask": np.zeros((1, seq_len), np.float32),
        "cat_hour_counts": np.zeros((1, num_categories), np.float32),
        "target_item": np.array([[item_index(target_item) if target_item else 0]], np.int64),
    }
    for i, v in enumerate(views):   # oldest first, padded on the right
        feats["item_seq"][0, i] = item_index(v["key"])
        feats["cat_seq"][0, i] = int(v["cat"] or 0)
        feats["dwell"][0, i] = max(0.0, v["end"] - v["start"])
        feats["mask"][0, i] = 1.0
    # the latest closed hour window of a category counts only if it is the newest one
    newest_end = math.floor(p.watermark / SLIDE_S) * SLIDE_S if math.isfinite(p.watermark) else 0
    for cat in p.keys("cat_hour"):
        latest = p.query("cat_hour", cat)
        if latest and latest["end"] == newest_end and 0 <= int(cat) < num_categories:
            feats["cat_hour_counts"][0, int(cat)] = latest["n"]
    return feats


def _prepare(p: Pipeline, match: dict[str, Any]) -> dict[str, Any]:
    items = match["events"][-1]["items"] if match["events"] else []
    return din_features(p, items[0] if items else "")


def model_sink(model: Any) -> Callable[[str, dict[str, Any]], Any]:
    """A task sink that feeds the inputs to ``model.run(inputs)`` or ``model(inputs)``."""
    run = model.run if hasattr(model, "run") else model
    return lambda task_name, inputs: run(inputs)


def build_din_pipeline(model: Any = None, sink: TaskSink | None = None,
                       store: str = ":memory:", uplink_url: str | None = None,
                       device_id: str = "device") -> Pipeline:
    """The DIN pipeline from :data:`DIN_MANIFEST`; tasks go to ``sink`` or to ``model``."""
    table = {**DIN_MANIFEST, "device_id": device_id}
    if uplink_url:
        table["uplink"] = {"url": uplink_url, "interval_s": 0.2}
    if sink is None and model is not None:
        sink = model_sink(model)
    return from_manifest(table, sink=sink, store=store, prepare={"rank_feed": _prepare})


def simulate_session(seed: int, duration_s: float, start_ts: float = 1_700_000_000.0,
                     n_items: int = 5000, n_categories: int = NUM_CATEGORIES) -> list[dict]:
    """Events of one simulated user browsing a shopping app for ``duration_s`` seconds: feed
    pages with exposures and scrolls, clicks into item pages with dwell, add-to-cart."""
    rng = random.Random(seed)
    cat_of = [rng.randrange(n_categories) for _ in range(n_items)]
    t, out = start_ts, []

    def ev(eid: str, page: str, items: list[str] | None = None, **args: Any) -> None:
        out.append({"ts": round(t, 3), "id": eid, "page": page, "items": items or [],
                    "args": args})

    while t < start_ts + duration_s:
        shown = [f"i{rng.randrange(n_items)}" for _ in range(8)]
        ev("page_enter", "feed", shown[:1])
        for item in shown:
            t += rng.uniform(0.2, 1.5)
            ev("exposure", "feed", [item], pos=shown.index(item))
            if rng.random() < 0.3:
                ev("scroll", "feed", dy=rng.randrange(100, 900))
        item = rng.choice(shown)
        t += rng.uniform(0.5, 3)
        ev("click", "feed", [item])
        ev("page_leave", "feed")
        cat = cat_of[int(item[1:])]
        ev("page_enter", "item", [item], cat=cat, price=round(rng.uniform(1, 300), 2))
        for _ in range(rng.randrange(1, 6)):
            t += rng.uniform(1, 12)
            ev("scroll", "item", [item], dy=rng.randrange(100, 900))
        if rng.random() < 0.15:
            ev("add_cart", "item", [item], cat=cat)
        t += rng.uniform(0.5, 5)
        ev("page_leave", "item", [item])
        t += rng.uniform(0.5, 3)
    return out


def din_model_inputs(features: dict[str, Any]) -> dict[str, Any]:
    """Maps :func:`din_features` onto the inputs of ``walle.models`` DIN (``make_model("din")``):
    the candidate item, the behaviour sequence with its mask, and 8 dense features summarizing
    dwell time and the last hour's category counts."""
    import numpy as np

    mask = features["mask"] > 0
    dwell = features["dwell"][mask]
    counts = features["cat_hour_counts"][0]
    dense = np.array([[mask.sum() / SEQ_LEN, dwell.mean() if dwell.size else 0.0, dwell.max() if dwell.size else 0.0,
                       np.log1p(counts.sum()), np.log1p(counts.max()), float((counts > 0).sum()) / len(counts),
                       0.0, 1.0]], np.float32)
    return {
        "item": features["target_item"].reshape(1),
        "category": np.zeros(1, np.int64),  # the candidate's category is not among the events
        "hist_items": features["item_seq"],
        "hist_categories": features["cat_seq"],
        "hist_mask": mask,
        "dense": dense,
    }
