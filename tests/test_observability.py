"""What Prometheus and the logs show about incidents, notifications and requests."""

from __future__ import annotations

import io
from typing import Any

import orjson
import structlog
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.incidents.conftest import finish_required_steps, open_incident, patch


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    raise AssertionError(f"no sample {name}{labels}")


def test_incident_metrics_and_route_latency(client: TestClient) -> None:
    a = open_incident(client, title="a", severity="high")
    open_incident(client, title="b", severity="critical")
    assert patch(client, a, status="acknowledged").status_code == 200
    finish_required_steps(client, a["id"])
    assert patch(client, a, status="resolved").status_code == 200
    client.get(f"/v1/incidents/{a['id']}")

    text = client.get("/metrics").text
    assert sample(text, "custody_incidents", status="resolved", severity="high") == 1
    assert sample(text, "custody_incidents", status="open", severity="critical") == 1
    assert sample(text, "custody_incidents_overdue") == 0
    assert sample(text, "custody_incident_time_to_acknowledge_seconds_count") == 1
    assert sample(text, "custody_incident_time_to_resolve_seconds_bucket", le="60.0") == 1
    # Latency is labelled by route template, so incident ids never become label values.
    assert (
        sample(
            text,
            "custody_http_request_duration_seconds_count",
            method="GET",
            route="/v1/incidents/{incident_id}",
            status="200",
        )
        >= 1
    )
    assert f'route="/v1/incidents/{a["id"]}"' not in text


def test_one_info_line_when_an_incident_opens_and_resolves(client: TestClient) -> None:
    buffer = io.StringIO()
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(file=buffer),
    )
    try:
        incident = open_incident(client, title="weights pulled", severity="high")
        assert patch(client, incident, status="acknowledged").status_code == 200
        finish_required_steps(client, incident["id"])
        assert patch(client, incident, status="resolved").status_code == 200
    finally:
        structlog.reset_defaults()
    lines: list[dict[str, Any]] = [
        orjson.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")
    ]
    announced = [(x["event"], x["incident"], x["level"]) for x in lines if "incident" in x]
    assert announced == [
        ("incident.opened", incident["id"], "info"),
        ("incident.resolved", incident["id"], "info"),
    ]
