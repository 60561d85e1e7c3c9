"""Prometheus export of :meth:`Pipeline.stats` (``Pipeline(metrics_registry=registry)``).

The values are read from ``stats()`` when the registry is scraped, so ingestion pays
nothing for them.  Every metric has the label ``device``; ``walle_pipeline_state_keys`` also
has ``operator`` (the operator uid).  Needs ``prometheus_client`` (``pip install
".[metrics]"``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .pipeline import Pipeline

# (name, kind, help, stats key); counters get the "_total" suffix from prometheus_client
_SCALARS = [
    ("walle_pipeline_events_in", "counter", "Events processed", "events_in"),
    ("walle_pipeline_events_rejected", "counter", "Malformed events refused", "rejected"),
    ("walle_pipeline_events_refused", "counter", "Events refused by backpressure", "refused"),
    ("walle_pipeline_events_late", "counter", "Records after their window closed", "late"),
    ("walle_pipeline_dead_letters", "gauge", "Dead letters in the store", "dead_letters"),
    ("walle_pipeline_state_evicted", "counter", "State keys dropped by TTL or max_keys",
     "evicted"),
    ("walle_pipeline_trigger_fires", "counter", "Trigger matches", "fires"),
    ("walle_pipeline_pending_tasks", "gauge", "Tasks queued or running", "pending_tasks"),
    ("walle_pipeline_outbox_results", "gauge", "Results waiting to be uplinked", "outbox"),
    ("walle_pipeline_store_bytes", "gauge", "Bytes in use in the SQLite store",
     "store_bytes"),
    ("walle_pipeline_watermark_seconds", "gauge", "Event-time watermark", "watermark"),
]


class PipelineCollector:
    """A prometheus_client collector of one pipeline."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        st = self.pipeline.stats()
        device = [str(self.pipeline.device_id)]

        def family(name: str, kind: str, doc: str, value: float | None) -> Any:
            cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            fam = cls(name, doc, labels=["device"])
            if value is not None:
                fam.add_metric(device, float(value))
            return fam

        for name, kind, doc, key in _SCALARS:
            yield family(name, kind, doc, st[key])
        yield family("walle_pipeline_lag_seconds", "gauge",
                     "Wall clock minus the largest event time", st["lag_s"])
        yield family("walle_pipeline_commit_seconds", "gauge", "Duration of the last commit",
                     st["commit_ms"]["last"] / 1000)
        keys = GaugeMetricFamily("walle_pipeline_state_keys", "State keys per operator",
                                 labels=["device", "operator"])
        for uid, n in st["state_keys"].items():
            keys.add_metric([*device, uid], n)
        yield keys
        up = st["uplink"]
        if up is not None:
            yield family("walle_pipeline_uplink_results", "counter", "Results acknowledged",
                         up["results"])
            yield family("walle_pipeline_uplink_failures", "counter", "Failed uplink POSTs",
                         up["failures"])
