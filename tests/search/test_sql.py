"""GET /v1/search on the SQL backend (the default), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from service.auth.schemas import Scope
from tests.search.conftest import seed


def _ids(client: TestClient, **params: Any) -> list[str]:
    r = client.get("/v1/search", params=params)
    assert r.status_code == 200, r.text
    # Each search's own audit.read is committed first and names the query: it is left out.
    items = r.json()["items"]
    assert all(e["action"] != "audit.read" for e in items), items
    return [e["id"] for e in items]


def test_text_matches_fields_and_payload_case_insensitively(client: TestClient) -> None:
    seed(client)
    assert _ids(client, q="alice") == [f"s{i}" for i in range(16)]  # actor id, any case
    assert len(_ids(client, q="LLM-PROD")) == 12  # resource id
    assert _ids(client, q="req-17") == ["s17"]  # request id (substring: not req-1)
    assert _ids(client, q="exfiltrate") == ["s0", "s5", "s10", "s15", "s20"]  # payload
    assert _ids(client, q="weights.down")[:2] == ["s1", "s4"]  # action substring
    # every term must match, in any field
    assert _ids(client, q="exfiltrate bob") == ["s20"]
    assert _ids(client, q="nowhere-to-be-found") == []


def test_like_wildcards_are_literal(client: TestClient) -> None:
    seed(client)
    assert _ids(client, q="50%") == ["pct"]
    assert _ids(client, q="a_b") == ["num"]
    assert _ids(client, q="\\") == []


def test_filters_combine_with_text(client: TestClient) -> None:
    seed(client)
    assert _ids(client, q="alice", action="model.*", outcome="denied") == ["s0", "s4", "s12"]
    assert _ids(client, q="exfiltrate", actor="bob@example.com") == ["s20"]
    assert _ids(client, q="llm", resource_type="model", resource_id="llm-dev", source="x") == []
    assert _ids(
        client, q="llm-prod", since="2026-11-30T12:03:00Z", until="2026-11-30T12:08:00Z"
    ) == ["s3", "s5", "s7"]


def test_cursor_pagination_walks_every_match_once(client: TestClient) -> None:
    seed(client)
    seen: list[str] = []
    params: dict[str, Any] = {"q": "alice", "limit": 5, "action": "model.*"}
    while True:
        page = client.get("/v1/search", params=params).json()
        seen += [e["id"] for e in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == [f"s{i}" for i in range(16) if i % 3 != 2]
    assert client.get("/v1/search", params={"q": "a", "cursor": "x"}).status_code == 422
    assert client.get("/v1/search", params={"q": "a", "limit": 1001}).status_code == 422
    assert client.get("/v1/search", params={"q": ""}).status_code == 422


def test_items_are_events_as_in_events_api(client: TestClient) -> None:
    seed(client)
    body = client.get("/v1/search", params={"q": "req-17", "source": "inference-gateway"}).json()
    (item,) = body["items"]
    assert item == client.get(f"/v1/events/{item['seq']}").json() | {"raw": None}
    head = client.get("/v1/log/head").json()["seq"]
    assert body["indexed_through"] >= head - 1  # the SQL backend never lags


def test_each_search_is_one_audit_read(client: TestClient, make_token: Any) -> None:
    seed(client)
    reader = {"Authorization": f"Bearer {make_token(Scope.read)}"}
    r = client.get("/v1/search", params={"q": "alice", "limit": 3}, headers=reader)
    assert r.status_code == 200
    reads = client.get("/v1/events", params={"action": "audit.read"}).json()["items"]
    searches = [e for e in reads if e["resource"]["id"] == "/v1/search"]
    assert len(searches) == 1
    assert searches[0]["attributes"]["query"] == {"q": "alice", "limit": "3"}
    ingest = {"Authorization": f"Bearer {make_token(Scope.ingest)}"}
    assert client.get("/v1/search", params={"q": "a"}, headers=ingest).status_code == 403


def test_erased_words_are_found_nowhere(client: TestClient) -> None:
    seed(client)
    events = client.get("/v1/events", params={"limit": 100}).json()["items"]
    seqs = {e["id"]: e["seq"] for e in events}
    for erased in ("s5", "s10"):
        r = client.post(f"/v1/events/{seqs[erased]}/erase", json={"reason": "subject request"})
        assert r.status_code == 200, r.text
    assert _ids(client, q="exfiltrate") == ["s0", "s15", "s20"]
    assert _ids(client, q="req-10") == ["s10"]  # the hashed record stays searchable


def test_search_leaves_out_its_own_echo_unless_asked(client: TestClient) -> None:
    seed(client)
    first = client.get("/v1/search", params={"q": "exfiltrate"}).json()["items"]
    again = client.get("/v1/search", params={"q": "exfiltrate"}).json()["items"]
    assert [e["seq"] for e in again] == [e["seq"] for e in first]
    asked = client.get("/v1/search", params={"q": "exfiltrate", "include_audit": "true"})
    reads = [e for e in asked.json()["items"] if e["action"] == "audit.read"]
    assert len(reads) == 3 and all(e["source"] == "custody" for e in reads)
