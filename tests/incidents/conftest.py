"""Builders for incident tests: events in the log, incidents through the API."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import event


def ingest(client: TestClient, n: int = 5, **overrides: Any) -> list[int]:
    """Store `n` events and return their seqs."""
    r = client.post("/v1/events", json=[event(**overrides) for _ in range(n)])
    assert r.status_code == 200, r.text
    body = r.json()
    return list(range(body["first_seq"], body["last_seq"] + 1))


def open_incident(client: TestClient, **fields: Any) -> dict[str, Any]:
    body = {"title": "Suspicious weights download", "severity": "high", **fields}
    r = client.post("/v1/incidents", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def patch(client: TestClient, incident: dict[str, Any], **fields: Any) -> Any:
    """PATCH with the incident's current ETag (read fresh)."""
    current = client.get(f"/v1/incidents/{incident['id']}")
    return client.patch(
        f"/v1/incidents/{incident['id']}",
        json=fields,
        headers={"If-Match": current.headers["ETag"]},
    )


def finish_required_steps(client: TestClient, incident_id: str) -> None:
    runbook = client.get(f"/v1/incidents/{incident_id}/runbook").json()
    for phase in runbook["phases"]:
        for step in phase["steps"]:
            if step["required"]:
                r = client.post(
                    f"/v1/incidents/{incident_id}/runbook/steps/{step['id']}",
                    json={"status": "done", "note": f"did {step['id']}"},
                )
                assert r.status_code == 200, r.text
