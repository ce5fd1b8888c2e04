"""Prometheus metrics, one registry per app so several apps can live in one process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events_ingested = Counter(
            "custody_events_ingested",
            "Events appended to the log by ingest",
            registry=self.registry,
        )
        self.events_duplicate = Counter(
            "custody_events_duplicate", "Events skipped as duplicates", registry=self.registry
        )
        self.events_rejected = Counter(
            "custody_events_rejected", "Events rejected by validation", registry=self.registry
        )
        self.log_head_seq = Gauge(
            "custody_log_head_seq", "Seq of the chain head", registry=self.registry
        )
