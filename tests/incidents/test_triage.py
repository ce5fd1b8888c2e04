"""Triage at scale: entities and pivots, related incidents, link and merge, SLA clocks
with pauses, breaches and escalation."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from service.app import create_app
from service.auditlog.models import LogRecord
from service.auth.schemas import Scope
from service.auth.service import create_token
from service.config import Settings
from service.db import session_scope
from service.incidents.sla import record_breaches
from service.notify.models import OutboxRow
from tests.incidents.conftest import ingest, open_incident, patch


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_entities_pivots_and_related_incidents(client: TestClient) -> None:
    mallory = {"type": "user", "id": "mallory@example.com", "ip": "203.0.113.50"}
    model = {"type": "model", "id": "llm-prod", "version": "2026-11-01"}
    a_seqs = ingest(client, 3, actor=mallory, resource=model)
    b_seqs = ingest(
        client, 2, actor=mallory, action="dataset.read", resource={"type": "dataset", "id": "pii"}
    )
    other = ingest(client, 1, actor={"type": "user", "id": "bob@example.com", "ip": "198.51.100.1"})
    a = open_incident(client, title="weights", evidence=a_seqs)
    b = open_incident(client, title="dataset", evidence=b_seqs)
    c = open_incident(client, title="unrelated", evidence=other)

    detail = client.get(f"/v1/incidents/{a['id']}").json()
    entities = {(e["type"], e["value"]): e["count"] for e in detail["entities"]}
    assert entities[("actor", "mallory@example.com")] == 3
    assert entities[("ip", "203.0.113.50")] == 3
    assert entities[("model", "llm-prod")] == 3
    assert entities[("model_version", "llm-prod@2026-11-01")] == 3
    related = {r["id"]: r for r in detail["related"]}
    # b shares the actor and address; c only the model (both came from one source too,
    # which alone relates nothing).
    assert set(related) == {b["id"], c["id"]}
    assert {(s["type"], s["value"]) for s in related[c["id"]]["shared"]} == {
        ("model", "llm-prod"),
        ("model_version", "llm-prod@2026-11-01"),
    }
    assert {(s["type"], s["value"]) for s in related[b["id"]]["shared"]} == {
        ("actor", "mallory@example.com"),
        ("ip", "203.0.113.50"),
    }

    pivot = client.get("/v1/incidents", params={"entity": "ip:203.0.113.50"}).json()
    assert {i["id"] for i in pivot["items"]} == {a["id"], b["id"]}
    report = client.get("/v1/entities/actor/mallory@example.com").json()
    assert report["incident_count"] == 2 and report["evidence_events"] == 5
    assert [i["id"] for i in report["incidents"]] == [b["id"], a["id"]]
    model = client.get("/v1/entities/model_version/llm-prod@2026-11-01").json()
    assert {i["id"] for i in model["incidents"]} == {a["id"], c["id"]}

    missing = client.get("/v1/entities/ip/192.0.2.1")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    bad = client.get("/v1/incidents", params={"entity": "colour:red"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "entity"


def test_link_and_merge_keep_both_histories(client: TestClient, sessions: Any) -> None:
    a = open_incident(client, title="first", evidence=ingest(client, 2))
    b = open_incident(client, title="second", evidence=ingest(client, 3))
    c = open_incident(client, title="third", evidence=ingest(client, 1))
    linked = client.post(f"/v1/incidents/{a['id']}/links", json={"incident": c["id"]})
    assert linked.status_code == 200, linked.text
    again = client.post(f"/v1/incidents/{a['id']}/links", json={"incident": c["id"]})
    assert again.json()["version"] == linked.json()["version"]  # idempotent
    rel = {r["id"]: r["link"] for r in client.get(f"/v1/incidents/{c['id']}").json()["related"]}
    assert rel[a["id"]] == "related"

    merged = client.post(f"/v1/incidents/{b['id']}/merge", json={"into": a["id"]})
    assert merged.status_code == 200, merged.text
    target = merged.json()
    assert target["id"] == a["id"] and target["event_count"] == 5
    source = client.get(f"/v1/incidents/{b['id']}").json()
    assert source["status"] == "duplicate" and source["duplicate_of"] == a["id"]
    kinds_b = [e["kind"] for e in client.get(f"/v1/incidents/{b['id']}/timeline").json()["items"]]
    kinds_a = [e["kind"] for e in client.get(f"/v1/incidents/{a['id']}/timeline").json()["items"]]
    assert kinds_b == ["open", "merge"] and kinds_a == ["open", "link", "merge"]
    with session_scope(sessions) as session:
        merges = session.scalars(
            select(LogRecord.resource_id).where(LogRecord.action == "incident.merge")
        ).all()
    assert sorted(merges) == sorted([a["id"], b["id"]])

    refused = client.post(f"/v1/incidents/{b['id']}/merge", json={"into": c["id"]})
    assert refused.status_code == 409  # a duplicate is terminal
    itself = client.post(f"/v1/incidents/{a['id']}/merge", json={"into": a["id"]})
    assert itself.status_code == 422


@pytest.fixture
def fast_sla(settings: Settings) -> Iterator[tuple[TestClient, Any]]:
    """An app whose critical incidents must be acknowledged within a minute."""
    custom = settings.model_copy(
        update={
            # high: overdue as soon as it opens (6 ms), for the filter below.
            "sla_acknowledge_minutes": {"critical": 1.0, "high": 0.0001},
            "sla_resolve_minutes": {"critical": 10.0},
        }
    )
    app = create_app(custom)
    with session_scope(app.state.sessionmaker) as session:
        secret = create_token(session=session, scope=Scope.admin).secret
    with TestClient(app, raise_server_exceptions=False) as c:
        c.headers["Authorization"] = f"Bearer {secret}"
        yield c, app.state.sessionmaker
    app.state.engine.dispose()


def test_sla_breach_escalates_once_and_pauses_while_waiting(
    fast_sla: tuple[TestClient, Any],
) -> None:
    client, sessions = fast_sla
    incident = open_incident(client, title="LLMjacking", severity="critical")
    opened = parse(incident["opened_at"])
    sla = incident["sla"]
    assert parse(sla["acknowledge_due"]) == opened + timedelta(minutes=1)
    assert parse(sla["resolve_due"]) == opened + timedelta(minutes=10)
    assert sla["overdue"] == []
    low = open_incident(client, title="noise", severity="low")
    assert low["sla"]["acknowledge_due"] is None  # no target for low in this policy

    later = opened + timedelta(minutes=2)
    with session_scope(sessions) as session:
        assert record_breaches(session=session, at=later) == 1
    with session_scope(sessions) as session:
        assert record_breaches(session=session, at=later + timedelta(seconds=5)) == 0
    detail = client.get(f"/v1/incidents/{incident['id']}").json()
    assert detail["sla"]["acknowledge_breached_at"] is not None
    kinds = [
        e["kind"] for e in client.get(f"/v1/incidents/{incident['id']}/timeline").json()["items"]
    ]
    assert kinds == ["open", "sla_breached", "escalated"]
    with session_scope(sessions) as session:
        types = session.scalars(
            select(OutboxRow.type).where(OutboxRow.incident_number == int(incident["id"][4:]))
        ).all()
    assert types == ["incident.opened", "incident.sla_breached", "incident.escalated"]
    late = open_incident(client, title="late", severity="high")
    time.sleep(0.01)  # its 6 ms acknowledge target runs out in real time
    overdue = client.get("/v1/incidents", params={"overdue": "true"}).json()["items"]
    assert [(i["id"], i["sla"]["overdue"]) for i in overdue] == [(late["id"], ["acknowledge"])]
    on_time = client.get("/v1/incidents", params={"overdue": "false"}).json()["items"]
    assert {i["id"] for i in on_time} == {incident["id"], low["id"]}

    # Waiting on the vendor pauses the clocks; resuming moves the due times by the pause.
    assert patch(client, incident, status="acknowledged").status_code == 200
    waiting = patch(client, incident, waiting="vendor ticket #4711")
    assert waiting.status_code == 200, waiting.text
    assert waiting.json()["sla"]["waiting_reason"] == "vendor ticket #4711"
    assert waiting.json()["sla"]["overdue"] == []
    due_before = parse(waiting.json()["sla"]["resolve_due"])
    resumed = patch(client, incident, waiting=None).json()
    assert resumed["sla"]["waiting_reason"] is None
    assert parse(resumed["sla"]["resolve_due"]) > due_before
    entries = client.get(f"/v1/incidents/{incident['id']}/timeline").json()["items"]
    paused = [e for e in entries if "waiting_reason" in e["changes"]]
    assert [e["changes"]["waiting_reason"]["to"] for e in paused] == ["vendor ticket #4711", None]
    assert "resolve_due_at" in paused[1]["changes"]
