"""Per-task accounting: what ``Runner.stats()`` reports for each loaded task."""

from __future__ import annotations

from typing import Any

from .outcome import Outcome

# how a finished run counts: the outcome kind, or the stop reason of an interrupted run
_COUNTERS = ("runs", "ok", "failures", "errors", "timeouts", "crashes", "limits", "cancelled", "abandoned", "retries")


class TaskStats:
    """Counters and resource use of one task, updated under the runner's lock."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(_COUNTERS, 0)
        self.cpu_time = 0.0
        self.peak_memory: int | None = None

    def record(self, outcome: Outcome, reason: str | None, abandoned: bool = False) -> None:
        """Count one finished run (``reason``: why it was stopped, if it was)."""
        counts = self.counts
        counts["runs"] += 1
        if outcome.kind == "ok":
            counts["ok"] += 1
        else:
            counts["failures"] += 1
            key = {"error": "errors", "crashed": "crashes", "limit": "limits"}.get(outcome.kind)
            if key is None:
                key = "timeouts" if reason == "timeout" else "cancelled"
            counts[key] += 1
        if abandoned:
            counts["abandoned"] += 1
        if outcome.cpu is not None:
            self.cpu_time += outcome.cpu
        if outcome.peak is not None:
            self.peak_memory = max(self.peak_memory or 0, outcome.peak)

    def add_cpu(self, outcome: Outcome) -> None:
        """CPU of a run that finished after it was already counted (an abandoned run)."""
        if outcome.cpu is not None:
            self.cpu_time += outcome.cpu

    def as_dict(self) -> dict[str, Any]:
        return {**self.counts, "cpu_time": self.cpu_time, "peak_memory": self.peak_memory}
