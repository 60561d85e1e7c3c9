"""Metrics: stats() and the Prometheus export with a registry."""

from __future__ import annotations

from pipeline_testlib import ev
from prometheus_client import CollectorRegistry
from walle.pipeline import Count, Pipeline, Tumbling


def test_prometheus_export_reads_stats() -> None:
    registry = CollectorRegistry()
    p = Pipeline(device_id="d1", metrics_registry=registry, commit_every=10)
    p.flow("w").key_by("page").window(Tumbling(10)).aggregate(n=Count(), max_keys=100).emit()
    p.start()
    p.ingest_many([ev(float(i), "a", f"p{i % 3}") for i in range(30)] + [ev(1.0, "a", "p0")])
    p.ingest_many([{"ts": "bad", "id": "a"}])
    p.commit()

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"device": "d1", **labels})

    assert value("walle_pipeline_events_in_total") == 31
    assert value("walle_pipeline_events_rejected_total") == 1
    assert value("walle_pipeline_events_late_total") == 1
    assert value("walle_pipeline_state_keys", operator="w.aggregate") == 3
    assert value("walle_pipeline_outbox_results") == p.stats()["outbox"] > 0
    assert value("walle_pipeline_commit_seconds") > 0
    p.close()
    assert value("walle_pipeline_events_in_total") is None     # unregistered at close
