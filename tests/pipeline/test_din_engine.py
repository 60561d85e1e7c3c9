"""The DIN example feeding the real DIN model through the Walle engine."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import walle
from walle.pipeline.examples import build_din_pipeline, din_model_inputs, simulate_session


def test_din_pipeline_drives_the_engine(exported_model, collector, tmp_path) -> None:
    ort = pytest.importorskip("onnxruntime")
    onnx_path, _ = exported_model("din")
    walle.convert(onnx_path, tmp_path / "din.walle")
    session = walle.load(tmp_path / "din.walle")
    reference = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    scores: list[float] = []
    lock = threading.Lock()

    def rank(inputs: dict) -> dict:
        feeds = din_model_inputs(inputs)
        score = session.run(feeds)["output"]
        np.testing.assert_allclose(score, reference.run(None, feeds)[0], rtol=1e-4, atol=1e-5)
        with lock:
            scores.append(float(score[0, 0]))
        return {"score": score.reshape(-1)}

    events = simulate_session(seed=5, duration_s=3600)
    p = build_din_pipeline(model=rank, store=str(tmp_path / "din.db"), uplink_url=collector.url,
                           device_id="din-engine").start()
    p.ingest_many(events)
    assert p.drain(timeout=60)
    p.close()
    feed_entries = sum(e["id"] == "page_enter" and e["page"] == "feed" for e in events)
    assert len(scores) == feed_entries > 0
    assert all(0.0 < s < 1.0 for s in scores)
    uplinked = [r for r in collector.store.results("din-engine") if r["kind"] == "task"]
    assert len(uplinked) == feed_entries
