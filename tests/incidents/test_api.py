"""The incidents API: open, read with ETag, PATCH with If-Match, comments, evidence."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from service.auth.schemas import Scope
from tests.incidents.conftest import ingest, open_incident, patch


def test_open_read_and_ids_are_gapless(client: TestClient) -> None:
    seqs = ingest(client, 3)
    first = open_incident(client, evidence=seqs, tags=["atlas.aml.t0024"], assignee="bob")
    second = open_incident(client, title="Another")
    assert (first["id"], second["id"]) == ("INC-1", "INC-2")
    assert first["status"] == "open" and first["version"] == 1
    assert first["event_count"] == 3 and first["assignee"] == "bob"
    assert first["anchor_seq"] == seqs[-1]
    assert first["runbook_id"] == "model-exfiltration"
    assert first["allowed_transitions"] == ["acknowledged", "duplicate", "false_positive"]
    r = client.get("/v1/incidents/INC-1")
    assert r.status_code == 200
    assert r.headers["ETag"] == '"1"'
    assert r.json()["title"] == "Suspicious weights download"
    assert client.get("/v1/incidents/INC-99").status_code == 404
    assert client.get("/v1/incidents/nope").status_code == 404


def test_unknown_evidence_is_422_and_nothing_is_opened(client: TestClient) -> None:
    seqs = ingest(client, 2)
    r = client.post("/v1/incidents", json={"title": "x", "evidence": [seqs[0], 999]})
    assert r.status_code == 422
    assert r.json()["errors"] == [{"field": "seqs", "message": "unknown seq 999"}]
    assert open_incident(client)["id"] == "INC-1"  # the failed open left no gap


def test_patch_needs_if_match_and_refuses_stale_versions(client: TestClient) -> None:
    inc = open_incident(client)
    url = f"/v1/incidents/{inc['id']}"
    r = client.patch(url, json={"assignee": "carol"})
    assert r.status_code == 428
    r = client.patch(url, json={"assignee": "carol"}, headers={"If-Match": '"1"'})
    assert r.status_code == 200 and r.headers["ETag"] == '"2"'
    assert r.json()["assignee"] == "carol"
    r = client.patch(url, json={"assignee": "dave"}, headers={"If-Match": '"1"'})
    assert r.status_code == 412
    assert r.headers["content-type"] == "application/problem+json"
    r = client.patch(url, json={"assignee": None}, headers={"If-Match": 'W/"2"'})
    assert r.status_code == 200 and r.json()["assignee"] is None


def test_scopes(client: TestClient, make_token: Any) -> None:
    inc = open_incident(client)
    reader = {"Authorization": f"Bearer {make_token(Scope.read)}"}
    responder = {"Authorization": f"Bearer {make_token(Scope.respond)}"}
    assert client.get("/v1/incidents", headers=reader).status_code == 200
    r = client.post(f"/v1/incidents/{inc['id']}/comments", json={"body": "hi"}, headers=reader)
    assert r.status_code == 403
    r = client.post(f"/v1/incidents/{inc['id']}/comments", json={"body": "hi"}, headers=responder)
    assert r.status_code == 201
    assert client.get("/v1/incidents", headers={"Authorization": "Bearer x"}).status_code == 401


def test_comments_timeline_and_evidence(client: TestClient) -> None:
    seqs = ingest(client, 4)
    inc = open_incident(client, evidence=seqs[:1])
    url = f"/v1/incidents/{inc['id']}"
    r = client.post(f"{url}/comments", json={"body": "Looking into it"})
    assert r.status_code == 201 and r.json()["kind"] == "comment"
    r = client.post(f"{url}/evidence", json={"seqs": seqs})
    assert r.status_code == 200, r.text
    assert r.json()["added"] == seqs[1:] and r.json()["already"] == seqs[:1]
    assert r.json()["incident"]["event_count"] == 4
    assert client.post(f"{url}/evidence", json={"seqs": [12345]}).status_code == 422
    assert patch(client, inc, status="acknowledged", severity="critical").status_code == 200

    timeline = client.get(f"{url}/timeline").json()["items"]
    assert [e["kind"] for e in timeline] == ["open", "comment", "evidence", "update"]
    assert timeline[1]["body"] == "Looking into it"
    assert timeline[3]["changes"]["status"] == {"from": "open", "to": "acknowledged"}
    assert timeline[3]["changes"]["severity"] == {"from": "high", "to": "critical"}
    assert all(e["actor"]["type"] == "token" for e in timeline)

    events = client.get(f"{url}/events").json()["items"]
    assert [e["seq"] for e in events] == seqs
    assert all(len(e["hash"]) == 64 and e["via"] == inc["id"] for e in events)
    log = client.get("/v1/events", params={"source": "custody", "action": "incident.*"}).json()
    actions = [e["action"] for e in log["items"]]
    assert actions == [
        "incident.open",
        "incident.comment",
        "incident.evidence.add",
        "incident.update",
    ]
    assert {e["resource"]["id"] for e in log["items"]} == {"INC-1"}
