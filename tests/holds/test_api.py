"""Legal holds: erasure is refused (409, saying why) for held events, holds are logged,
and the records of what was read or minted are never erasable. Both databases."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from service.auth.schemas import Scope
from tests.conftest import event
from tests.incidents.conftest import finish_required_steps, ingest, open_incident, patch

REASON = {"reason": "GDPR art. 17 request #991"}
FEB = "2026-02-01T00:00:00Z"


def erase(client: TestClient, seq: int) -> Any:
    return client.post(f"/v1/events/{seq}/erase", json=REASON)


def hold(client: TestClient, **criteria: Any) -> dict[str, Any]:
    r = client.post("/v1/holds", json={"reason": "litigation Acme v. Us", **criteria})
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_evidence_of_an_open_incident_cannot_be_erased_until_it_is_closed(
    client: TestClient,
) -> None:
    seqs = ingest(client, 3, attributes={"prompt": "secret plans"})
    incident = open_incident(client, evidence=[seqs[0]])
    refused = erase(client, seqs[0])
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert f"evidence of {incident['id']}, which is open" in body["detail"]
    why = f"evidence of {incident['id']}, which is open"
    assert body["holds"] == [{"kind": "incident", "id": incident["id"], "why": why}]
    assert client.get(f"/v1/events/{seqs[0]}").json()["attributes"] == {"prompt": "secret plans"}
    assert erase(client, seqs[1]).status_code == 200  # not evidence: erasable

    for status in ("acknowledged", "resolved"):
        if status == "resolved":
            finish_required_steps(client, incident["id"])
        assert patch(client, incident, status=status).status_code == 200
        assert erase(client, seqs[0]).status_code == 409  # resolved may still reopen
    assert patch(client, incident, status="closed").status_code == 200
    assert erase(client, seqs[0]).status_code == 200


def test_explicit_holds_by_actor_resource_time_and_incident(client: TestClient) -> None:
    alice = ingest(client, 1, actor={"type": "user", "id": "alice"})[0]
    bob_model = ingest(client, 1, actor={"type": "user", "id": "bob"})[0]  # model llm-prod
    bob_early = ingest(
        client,
        1,
        actor={"type": "user", "id": "bob"},
        resource={"type": "dataset", "id": "d1"},
        time="2026-11-01T00:00:00Z",
    )[0]
    bob_dataset = ingest(
        client, 1, actor={"type": "user", "id": "bob"}, resource={"type": "dataset", "id": "d1"}
    )[0]
    on_actor = hold(client, actor="alice")
    on_resource = hold(client, resource={"type": "model", "id": "llm-prod"})
    # Criteria combine: bob's dataset events of November 1st only.
    combined = hold(
        client,
        actor="bob",
        resource={"type": "dataset", "id": "d1"},
        since="2026-11-01T00:00:00Z",
        until="2026-11-02T00:00:00Z",
    )
    assert combined["since"] == "2026-11-01T00:00:00.000000Z"

    r = erase(client, alice)
    assert r.status_code == 409
    assert r.json()["holds"][0]["id"] == on_actor["id"]
    assert "litigation Acme v. Us" in r.json()["detail"]
    # alice's event is also on model llm-prod: every hold is named.
    assert [h["id"] for h in r.json()["holds"]] == [on_actor["id"], on_resource["id"]]
    assert [h["id"] for h in erase(client, bob_model).json()["holds"]] == [on_resource["id"]]
    assert [h["id"] for h in erase(client, bob_early).json()["holds"]] == [combined["id"]]
    assert erase(client, bob_dataset).status_code == 200  # outside the time range

    released = client.post(f"/v1/holds/{combined['id']}/release", json={"reason": "settled"})
    assert released.status_code == 200, released.text
    assert released.json()["status"] == "released"
    assert erase(client, bob_early).status_code == 200

    incident = open_incident(client, evidence=[bob_model])
    patch(client, incident, status="false_positive")
    on_incident = hold(client, incident=incident["id"])
    assert [h["id"] for h in erase(client, bob_model).json()["holds"]] == [
        on_resource["id"],
        on_incident["id"],
    ]


def test_holds_are_listed_released_once_and_logged(client: TestClient) -> None:
    first = hold(client, actor="alice")
    second = hold(client, since="2026-01-01T00:00:00Z")
    assert first["id"] == "HOLD-1" and first["status"] == "active"
    assert first["created_by"] and first["released_at"] is None

    record = client.get(f"/v1/events/{first['create_seq']}").json()
    assert (record["source"], record["action"]) == ("custody", "hold.create")
    assert record["resource"] == {"type": "hold", "id": "HOLD-1"}
    assert record["attributes"]["reason"] == "litigation Acme v. Us"
    assert record["attributes"]["criteria"]["actor"] == "alice"

    r = client.post(f"/v1/holds/{first['id']}/release", json={"reason": "case dismissed"})
    released = r.json()
    assert released["release_reason"] == "case dismissed"
    record = client.get(f"/v1/events/{released['release_seq']}").json()
    assert (record["action"], record["attributes"]["reason"]) == ("hold.release", "case dismissed")
    again = client.post(f"/v1/holds/{first['id']}/release", json={"reason": "case dismissed"})
    assert again.status_code == 409

    page = client.get("/v1/holds", params={"limit": 1}).json()
    assert [h["id"] for h in page["items"]] == ["HOLD-1"]
    rest = client.get("/v1/holds", params={"limit": 1, "cursor": page["next_cursor"]}).json()
    assert [h["id"] for h in rest["items"]] == [second["id"]]
    assert rest["next_cursor"] is None
    active = client.get("/v1/holds", params={"status": "active"}).json()["items"]
    assert [h["id"] for h in active] == [second["id"]]
    assert client.get("/v1/holds/HOLD-2").json() == second
    assert client.get("/v1/holds/HOLD-99").status_code == 404
    assert client.post("/v1/holds/nope/release", json={"reason": "x" * 5}).status_code == 404


def test_holds_need_criteria_a_reason_and_the_admin_scope(
    client: TestClient, make_token: Any
) -> None:
    for body, field in (
        ({"reason": "no criteria at all"}, ""),
        ({"actor": "alice"}, "reason"),
        ({"reason": "typo", "actr": "alice"}, "actr"),
        ({"reason": "bad range", "since": FEB, "until": "2026-01-01T00:00:00Z"}, ""),
        ({"reason": "naive time", "since": "2026-02-01T00:00:00"}, "since"),
        ({"reason": "half a resource", "resource": {"type": "model"}}, "resource.id"),
    ):
        r = client.post("/v1/holds", json=body)
        assert r.status_code == 422, body
        assert field in r.json()["errors"][0]["field"], r.json()
        if "until" in body:
            assert "since must be before until" in r.json()["detail"]
    r = client.post("/v1/holds", json={"reason": "ghost", "incident": "INC-404"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "incident"

    respond = {"Authorization": f"Bearer {make_token(Scope.respond)}"}
    denied = client.post("/v1/holds", json={"reason": "x" * 5, "actor": "a"}, headers=respond)
    assert denied.status_code == 403
    read = {"Authorization": f"Bearer {make_token(Scope.read)}"}
    assert client.get("/v1/holds", headers=read).status_code == 200


def test_records_of_what_was_read_or_minted_cannot_be_erased(client: TestClient) -> None:
    r = client.post(
        "/v1/events",
        json=[
            event(action="apikey.create", source="model-registry"),
            event(action="auth.login.failure", source="admin-console"),
        ],
    )
    minted, failed = r.json()["first_seq"], r.json()["last_seq"]
    read = client.get(f"/v1/events/{minted}")  # leaves an audit.read record
    audit = client.get("/v1/events", params={"action": "audit.read"}).json()["items"][0]["seq"]
    token = client.post("/v1/tokens", json={"scope": "read"})
    assert (read.status_code, token.status_code) == (200, 201)
    custody_record = client.get("/v1/events", params={"source": "custody"}).json()["items"]
    for seq in (minted, failed, audit, *(e["seq"] for e in custody_record)):
        refused = erase(client, seq)
        assert refused.status_code == 409, seq
        assert "cannot be erased" in refused.json()["detail"]
    erase_seq = erase(client, ingest(client, 1)[0]).json()["erase_seq"]
    assert erase(client, erase_seq).status_code == 409  # nor the erasure record itself
