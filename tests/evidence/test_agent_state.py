"""Access-state reconstruction for agents: what could this agent do, and for whom, at T."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import event

AGENT = {"type": "agent", "id": "agt-support"}


def _ingest(client: TestClient, *events: dict[str, Any]) -> None:
    response = client.post("/v1/events", json=list(events))
    assert response.status_code == 200, response.text


def test_agent_state_at_time(client: TestClient) -> None:
    _ingest(
        client,
        event(time="2026-11-01T09:00:00Z", action="agent.create", actor={"id": "ops@example.com"},
              resource={"type": "agent", "id": "agt-support"},
              attributes={"allowed_tools": ["search_kb", "create_ticket"]}),
        event(time="2026-11-01T09:01:00Z", action="model.permission.grant",
              actor={"id": "ops@example.com"}, resource={"type": "dataset", "id": "crm"},
              attributes={"grantee": "agt-support", "permission": "read"}),
        event(time="2026-11-01T09:02:00Z", action="model.permission.grant",
              actor={"id": "ops@example.com"}, resource={"type": "model", "id": "llm-prod"},
              attributes={"grantee": "someone-else", "permission": "invoke"}),
        event(time="2026-11-02T10:00:00Z", action="agent.tool.invoke", actor=AGENT,
              resource={"type": "tool", "id": "search_kb"},
              attributes={"on_behalf_of": "alice@example.com"}),
        event(time="2026-11-02T11:00:00Z", action="agent.invoke", actor=AGENT,
              resource={"type": "agent", "id": "agt-support"},
              attributes={"on_behalf_of": "bob@example.com"}),
        event(time="2026-11-03T08:00:00Z", action="agent.update", actor={"id": "ops@example.com"},
              resource={"type": "agent", "id": "agt-support"},
              attributes={"allowed_tools": ["search_kb"]}),
        event(time="2026-11-03T09:00:00Z", action="model.permission.revoke",
              actor={"id": "ops@example.com"}, resource={"type": "dataset", "id": "crm"},
              attributes={"grantee": "agt-support"}),
    )  # fmt: skip
    before = client.get(
        "/v1/state/agent", params={"agent_id": "agt-support", "at": "2026-11-02T12:00:00Z"}
    )
    assert before.status_code == 200, before.text
    state = before.json()
    assert [(g["resource_id"], g["permission"]) for g in state["grants"]] == [("crm", "read")]
    assert state["allowed_tools"]["tools"] == ["create_ticket", "search_kb"]
    assert [p["principal"] for p in state["on_behalf_of"]] == [
        "alice@example.com",
        "bob@example.com",
    ]
    assert state["on_behalf_of"][0]["actions"] == ["agent.tool.invoke"]

    after = client.get(
        "/v1/state/agent", params={"agent_id": "agt-support", "at": "2026-11-04T00:00:00Z"}
    ).json()
    assert after["grants"] == [] and after["allowed_tools"]["tools"] == ["search_kb"]
    narrow = client.get(
        "/v1/state/agent",
        params={"agent_id": "agt-support", "at": "2026-11-04T00:00:00Z",
                "since": "2026-11-02T10:30:00Z"},
    ).json()  # fmt: skip
    assert [p["principal"] for p in narrow["on_behalf_of"]] == ["bob@example.com"]


def test_agent_state_bad_input(client: TestClient) -> None:
    bad = client.get(
        "/v1/state/agent",
        params={"agent_id": "a", "at": "2026-11-01T00:00:00Z", "since": "2026-12-01T00:00:00Z"},
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "since"
    assert client.get("/v1/state/agent", params={"at": "2026-11-01T00:00:00Z"}).status_code == 422
    naive = client.get("/v1/state/agent", params={"agent_id": "a", "at": "2026-11-01T00:00:00"})
    assert naive.status_code == 422
    early = client.get("/v1/state/agent", params={"agent_id": "a", "at": "0001-01-02T00:00:00Z"})
    assert early.status_code == 200 and early.json()["grants"] == []
