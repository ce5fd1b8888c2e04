"""Who held which permission, and which version was deployed, at a given time."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import event

MODEL = {"type": "model", "id": "llm-prod"}


def _send(client: TestClient, *events: dict[str, Any]) -> None:
    response = client.post("/v1/events", json=list(events))
    assert response.status_code == 200, response.text


def _perm(
    action: str, time: str, grantee: str, permission: str | None, **kw: Any
) -> dict[str, Any]:
    attributes = {"grantee": grantee}
    if permission:
        attributes["permission"] = permission
    return event(
        action=f"model.permission.{action}",
        time=time,
        actor={"type": "user", "id": "admin@example.com"},
        resource=MODEL,
        attributes=attributes,
        **kw,
    )


def _access(client: TestClient, at: str) -> dict[str, Any]:
    response = client.get(
        "/v1/state/access", params={"resource_type": "model", "resource_id": "llm-prod", "at": at}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _held(body: dict[str, Any]) -> set[tuple[str, str]]:
    return {(g["grantee"], g["permission"]) for g in body["grants"]}


def test_access_is_reconstructed_at_any_time(client: TestClient) -> None:
    # Sent out of time order on purpose: event time decides, not arrival.
    _send(
        client,
        _perm("grant", "2026-11-01T10:00:00Z", "alice", "read"),
        _perm("grant", "2026-11-01T11:00:00Z", "bob", "read"),
        _perm("grant", "2026-11-01T11:30:00Z", "bob", "deploy"),
        _perm("revoke", "2026-11-01T12:00:00Z", "bob", "deploy"),
        _perm("grant", "2026-11-01T09:00:00Z", "carol", "admin"),
        _perm("revoke", "2026-11-01T13:00:00Z", "carol", None),  # everything carol held
        _perm("grant", "2026-11-01T11:45:00Z", "eve", "admin", outcome="denied"),
        event(action="model.invoke", time="2026-11-01T11:50:00Z", resource=MODEL),
    )
    assert _held(_access(client, "2026-11-01T08:00:00Z")) == set()
    assert _held(_access(client, "2026-11-01T11:45:00Z")) == {
        ("alice", "read"),
        ("bob", "read"),
        ("bob", "deploy"),
        ("carol", "admin"),
    }
    later = _access(client, "2026-11-01T12:30:00Z")
    assert _held(later) == {("alice", "read"), ("bob", "read"), ("carol", "admin")}
    assert _held(_access(client, "2026-11-01T13:00:00Z")) == {("alice", "read"), ("bob", "read")}
    grant = next(g for g in later["grants"] if g["grantee"] == "alice")
    assert grant["granted_by"] == "admin@example.com"
    assert grant["granted_at"].startswith("2026-11-01T10:00:00")


def test_deployed_version_at_a_time(client: TestClient) -> None:
    def deploy(time: str, version: str, **kw: Any) -> dict[str, Any]:
        return event(action="model.deploy", time=time, resource={**MODEL, "version": version}, **kw)

    _send(
        client,
        deploy("2026-11-01T10:00:00Z", "v1"),
        deploy("2026-11-02T10:00:00Z", "v2"),
        deploy("2026-11-03T10:00:00Z", "v3", outcome="failure"),
    )

    def version(at: str) -> Any:
        params = {"resource_type": "model", "resource_id": "llm-prod", "at": at}
        return client.get("/v1/state/versions", params=params).json()

    assert version("2026-10-01T00:00:00Z")["version"] is None
    assert version("2026-11-01T12:00:00Z")["version"] == "v1"
    state = version("2026-11-05T00:00:00Z")
    assert state["version"] == "v2" and state["deployed_by"] == "alice@example.com"


def test_state_needs_a_time(client: TestClient) -> None:
    response = client.get(
        "/v1/state/access", params={"resource_type": "model", "resource_id": "x", "at": "soon"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "at"
