"""Prometheus metrics, one registry per app so several apps can live in one process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
        self.request_seconds = Histogram(
            "custody_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["method", "route", "status"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
            registry=self.registry,
        )
        self.log_head_seq = Gauge(
            "custody_log_head_seq", "Seq of the chain head", registry=self.registry
        )
