"""The DIN example end to end: raw events in, model features out, the model fed by a task."""

from __future__ import annotations

import numpy as np
from walle.pipeline.examples import build_din_pipeline, din_features, simulate_session


class FakeModel:
    """Stands in for ``walle.load(path)``: records inputs, returns a score."""

    def __init__(self) -> None:
        self.inputs: list[dict[str, np.ndarray]] = []

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.inputs.append(inputs)
        return {"score": (inputs["mask"].sum(axis=1) / 50).astype(np.float32)}


def test_din_pipeline_feeds_the_model(collector, tmp_path) -> None:
    events = simulate_session(seed=3, duration_s=2 * 3600)
    model = FakeModel()
    p = build_din_pipeline(model=model, store=str(tmp_path / "din.db"),
                           uplink_url=collector.url, device_id="din-dev").start()
    p.ingest_many(events)
    assert p.drain(timeout=60)
    feats = din_features(p)
    spec = {"item_seq": (np.int64, (1, 50)), "cat_seq": (np.int64, (1, 50)),
            "dwell": (np.float32, (1, 50)), "mask": (np.float32, (1, 50)),
            "cat_hour_counts": (np.float32, (1, 32)), "target_item": (np.int64, (1, 1))}
    for name, (dtype, shape) in spec.items():
        assert feats[name].dtype == dtype and feats[name].shape == shape, name
    assert feats["mask"].sum() == 50                    # two hours give more than 50 visits
    assert (feats["dwell"] > 0).all() and (feats["item_seq"] > 0).all()

    # the features agree with a direct computation from the raw events
    enters = [e for e in events if e["page"] == "item" and e["id"] == "page_enter"]
    leaves = [e for e in events if e["page"] == "item" and e["id"] == "page_leave"]
    last = list(zip(enters, leaves))[-50:]
    assert feats["item_seq"][0].tolist() == [int(a["items"][0][1:]) for a, _ in last]
    assert feats["cat_seq"][0].tolist() == [a["args"]["cat"] for a, _ in last]
    np.testing.assert_allclose(feats["dwell"][0], [b["ts"] - a["ts"] for a, b in last],
                               rtol=1e-5)
    end = (events[-1]["ts"] // 60) * 60
    hour = [a["args"]["cat"] for a in enters if end - 3600 <= a["ts"] < end]
    assert feats["cat_hour_counts"][0].tolist() == [hour.count(c) for c in range(32)]

    # one model run per feed entry, and each result reached the collector
    feed_entries = sum(e["id"] == "page_enter" and e["page"] == "feed" for e in events)
    assert len(model.inputs) == feed_entries
    got = [r for r in collector.store.results("din-dev") if r["kind"] == "task"]
    assert len(got) == feed_entries
    p.close()
