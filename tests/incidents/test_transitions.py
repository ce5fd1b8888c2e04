"""The status machine: every allowed transition, a sample of refused ones, duplicates."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.incidents.schemas import Status
from service.incidents.transitions import TRANSITIONS
from tests.incidents.conftest import finish_required_steps, open_incident, patch

# The shortest path from `open` to each status (resolving needs the runbook done).
PATHS: dict[Status, list[str]] = {
    Status.open: [],
    Status.acknowledged: ["acknowledged"],
    Status.contained: ["acknowledged", "contained"],
    Status.resolved: ["acknowledged", "resolved"],
}
ALLOWED = [(src, dst) for src, dsts in TRANSITIONS.items() for dst in sorted(dsts)]
REFUSED = [
    (Status.open, Status.resolved),
    (Status.open, Status.contained),
    (Status.open, Status.closed),
    (Status.contained, Status.acknowledged),
    (Status.contained, Status.false_positive),
    (Status.resolved, Status.contained),
]


def _reach(client: TestClient, status: Status, **fields: Any) -> dict[str, Any]:
    inc = open_incident(client, **fields)
    finish_required_steps(client, inc["id"])
    for step in PATHS[status]:
        r = patch(client, inc, status=step)
        assert r.status_code == 200, r.text
    return inc


@pytest.mark.parametrize(("src", "dst"), ALLOWED, ids=lambda s: s.value)
def test_allowed(client: TestClient, src: Status, dst: Status) -> None:
    assert src in PATHS, "terminal statuses allow no transition"
    inc = _reach(client, src)
    extra = {"duplicate_of": open_incident(client)["id"]} if dst is Status.duplicate else {}
    r = patch(client, inc, status=dst.value, **extra)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == dst.value


@pytest.mark.parametrize(("src", "dst"), REFUSED, ids=lambda s: s.value)
def test_refused_with_allowed_next_states(client: TestClient, src: Status, dst: Status) -> None:
    inc = _reach(client, src)
    r = patch(client, inc, status=dst.value)
    assert r.status_code == 409
    body = r.json()
    assert body["allowed"] == sorted(s.value for s in TRANSITIONS[src])
    assert body["current"] == src.value


@pytest.mark.parametrize("terminal", ["closed", "false_positive", "duplicate"])
def test_terminal_statuses_allow_nothing(client: TestClient, terminal: str) -> None:
    inc = _reach(client, Status.resolved if terminal == "closed" else Status.open)
    extra = {"duplicate_of": open_incident(client)["id"]} if terminal == "duplicate" else {}
    assert patch(client, inc, status=terminal, **extra).status_code == 200
    r = patch(client, inc, status="acknowledged")
    assert r.status_code == 409 and r.json()["allowed"] == []


def test_times_to_acknowledge_and_resolve(client: TestClient) -> None:
    inc = _reach(client, Status.resolved)
    body = client.get(f"/v1/incidents/{inc['id']}").json()
    assert body["time_to_acknowledge"] is not None and body["time_to_acknowledge"] >= 0
    assert body["time_to_resolve"] >= body["time_to_acknowledge"]
    reopened = patch(client, inc, status="acknowledged").json()
    assert reopened["resolved_at"] is None and reopened["time_to_resolve"] is None
    stats = client.get("/v1/incidents/stats").json()
    assert stats["by_status"]["acknowledged"] == 1
    assert stats["by_severity"]["high"] == 1
    assert stats["time_to_acknowledge"]["count"] == 1


class TestDuplicates:
    def test_needs_a_target(self, client: TestClient) -> None:
        inc = open_incident(client)
        r = patch(client, inc, status="duplicate")
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "duplicate_of"

    def test_refuses_self_unknown_and_without_status(self, client: TestClient) -> None:
        inc = open_incident(client)
        assert patch(client, inc, status="duplicate", duplicate_of=inc["id"]).status_code == 422
        assert patch(client, inc, status="duplicate", duplicate_of="INC-42").status_code == 422
        assert patch(client, inc, duplicate_of="INC-1").status_code == 422

    def test_refuses_cycles(self, client: TestClient) -> None:
        a, b, c = (open_incident(client, title=t) for t in "abc")
        assert patch(client, b, status="duplicate", duplicate_of=a["id"]).status_code == 200
        assert patch(client, c, status="duplicate", duplicate_of=b["id"]).status_code == 200
        r = patch(client, a, status="duplicate", duplicate_of=c["id"])
        assert r.status_code == 422
        assert "already a duplicate" in r.json()["detail"]

    def test_evidence_of_duplicates_shows_on_the_survivor(self, client: TestClient) -> None:
        from tests.incidents.conftest import ingest

        seqs = ingest(client, 6)
        survivor = open_incident(client, evidence=seqs[:2])
        dup = open_incident(client, evidence=seqs[1:4])
        dup_of_dup = open_incident(client, evidence=seqs[5:])
        assert (
            patch(client, dup, status="duplicate", duplicate_of=survivor["id"]).status_code == 200
        )
        r = patch(client, dup_of_dup, status="duplicate", duplicate_of=dup["id"])
        assert r.status_code == 200 and r.json()["duplicate_of"] == dup["id"]
        items = client.get(f"/v1/incidents/{survivor['id']}/events").json()["items"]
        assert [(e["seq"], e["via"]) for e in items] == [
            (seqs[0], survivor["id"]),
            (seqs[1], survivor["id"]),
            (seqs[2], dup["id"]),
            (seqs[3], dup["id"]),
            (seqs[5], dup_of_dup["id"]),
        ]
