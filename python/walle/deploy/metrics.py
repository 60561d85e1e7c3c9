"""Prometheus exposition of the service (``GET /metrics``, prometheus_client text format).

Collected at scrape time from what the service already keeps: this instance's request
counters and connections, the live per-deployment counts from the database, and the
registry's device states.  A fresh registry per scrape keeps several apps in one process
(as the tests run them) from sharing global collectors.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_COUNTERS = {
    "bundle_requests": "Bundle downloads started (whole or ranged)",
    "bundle_range_requests": "Bundle downloads that asked for a byte range",
    "bundle_bytes": "Bundle bytes sent",
    "status_reports": "Device status reports committed",
}
_DEPLOYMENT_STATES = ("active", "paused", "superseded", "completed", "rolled_back")


class _Snapshot:
    """A collector that yields metrics prepared before the scrape (collect() is sync)."""

    def __init__(self, families: list[Any]) -> None:
        self._families = families

    def collect(self) -> list[Any]:
        return self._families


async def exposition(state: Any) -> bytes:
    """The Prometheus text exposition for an app's ``state``."""
    families: list[Any] = []
    for name, doc in _COUNTERS.items():
        c = CounterMetricFamily(f"walle_deploy_{name}", doc)
        c.add_metric([], float(state.metrics.get(name, 0)))
        families.append(c)
    g = GaugeMetricFamily("walle_deploy_connected_devices",
                          "Devices holding a push connection to this instance")
    g.add_metric([], len(state.rollout.hub))
    families.append(g)
    devices = GaugeMetricFamily("walle_deploy_devices", "Registered devices by state",
                                labels=["state"])
    for dev_state, n in sorted((await state.store.device_states()).items()):
        devices.add_metric([dev_state], n)
    families.append(devices)
    deps = await state.store.deployments()
    by_state = GaugeMetricFamily("walle_deploy_deployments", "Deployments by state",
                                 labels=["state"])
    for dep_state in _DEPLOYMENT_STATES:
        by_state.add_metric([dep_state], sum(d["state"] == dep_state for d in deps))
    families.append(by_state)
    live = [d for d in deps if d["state"] in ("active", "paused")]
    counts = await state.store.counts([d["id"] for d in live]) if live else {}
    per = GaugeMetricFamily("walle_deploy_deployment_devices",
                            "Devices of a live deployment by status",
                            labels=["deployment", "task", "status"])
    for d in live:
        for status, n in (counts.get(d["id"]) or {}).items():
            per.add_metric([str(d["id"]), d["task"], status], n)
    families.append(per)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(families))  # type: ignore[arg-type]
    return generate_latest(registry)
