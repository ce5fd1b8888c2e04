"""Custody's own records cannot be forged through ingest, by any token, in any format;
every record says who put it in the log (origin), inside what is hashed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from service.auth.schemas import Scope
from tests.adapters.helpers import FIXTURES
from tests.conftest import event

# Every action Custody writes about itself, plus the reserved families.
FORGED_ACTIONS = [
    "incident.open",
    "incident.update",
    "incident.comment",
    "incident.evidence.add",
    "incident.runbook.step",
    "event.erase",
    "audit.read",
    "rules.reload",
    "runbook.step.done",
    "hold.create",
    "snooze.create",
    "log.schema.upgrade",
]


def _post(client: TestClient, token: str, body: Any, **params: Any) -> Any:
    return client.post(
        "/v1/events",
        content=orjson.dumps(body),
        params=params,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )


def _head(client: TestClient) -> int:
    return int(client.get("/v1/log/head").json()["seq"])


@pytest.mark.parametrize("scope", [Scope.ingest, Scope.admin])
def test_every_token_that_can_ingest_is_refused_custody_records(
    client: TestClient, make_token: Callable[..., str], scope: Scope
) -> None:
    token = make_token(scope)
    before = _head(client)
    forged = [event(source="custody", action="model.invoke")]
    forged += [event(action=action, id=f"f-{action}") for action in FORGED_ACTIONS]
    r = _post(client, token, forged)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    errors = r.json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(0, "source")] + [
        (i, "action") for i in range(1, len(forged))
    ]
    assert "reserved for Custody" in errors[0]["message"]
    assert _head(client) == before  # atomic: nothing stored


@pytest.mark.parametrize("scope", [Scope.read, Scope.respond])
def test_tokens_without_ingest_cannot_post_at_all(
    client: TestClient, make_token: Callable[..., str], scope: Scope
) -> None:
    r = _post(client, make_token(scope), event(source="custody", action="event.erase"))
    assert r.status_code == 403


def test_a_source_bound_token_gets_a_422_naming_the_field(
    client: TestClient, make_token: Callable[..., str]
) -> None:
    token = make_token(Scope.ingest, source="inference-gateway")
    without_source = {k: v for k, v in event(action="incident.update").items() if k != "source"}
    r = _post(client, token, [without_source, event(source="custody")])
    assert r.status_code == 422, r.text
    assert [(e["index"], e["field"]) for e in r.json()["errors"]] == [(0, "action"), (1, "source")]


def test_partial_mode_stores_the_rest_and_names_the_forged_item(
    client: TestClient, make_token: Callable[..., str]
) -> None:
    token = make_token(Scope.ingest)
    body = [event(id="ok-1"), event(id="bad", action="event.erase"), event(id="ok-2")]
    r = _post(client, token, body, partial="true")
    assert r.status_code == 200, r.text
    result = r.json()
    assert (result["accepted"], result["rejected"]) == (2, 1)
    assert [(e["index"], e["field"]) for e in result["errors"]] == [(1, "action")]


def test_ndjson_is_checked_the_same_way(client: TestClient, make_token: Callable[..., str]) -> None:
    lines = b"\n".join(orjson.dumps(e) for e in (event(), event(source="custody")))
    r = client.post(
        "/v1/events",
        content=lines,
        headers={
            "Authorization": f"Bearer {make_token(Scope.ingest)}",
            "Content-Type": "application/x-ndjson",
        },
    )
    assert r.status_code == 422
    assert [(e["index"], e["field"]) for e in r.json()["errors"]] == [(1, "source")]


def test_a_forged_record_inside_a_cloudtrail_document_is_refused(
    client: TestClient, make_token: Callable[..., str]
) -> None:
    trail = orjson.loads((FIXTURES / "stratus/aws.impact.bedrock-invoke-model.json").read_bytes())
    forged = event(source="custody", action="incident.update", attributes={})
    token = make_token(Scope.ingest)
    r = _post(client, token, {"Records": [trail[0], forged]})
    assert r.status_code == 422, r.text
    assert [(e["index"], e["field"]) for e in r.json()["errors"]] == [(1, "source")]
    r = _post(client, token, {"Records": [trail[0], forged]}, partial="true")
    assert (r.json()["accepted"], r.json()["rejected"]) == (1, 1)
    stored = client.get("/v1/events", params={"source": "custody", "action": "incident.*"})
    assert stored.json()["items"] == []


@pytest.mark.parametrize(
    "action", ["apikey.create", "apikey.delete", "auth.login.failure", "auth.login.success"]
)
def test_actions_ai_services_also_send_stay_open(
    client: TestClient, make_token: Callable[..., str], action: str
) -> None:
    r = _post(client, make_token(Scope.ingest), event(action=action, source="admin-console"))
    assert r.status_code == 200, r.text


def test_each_record_names_its_origin_inside_the_hashed_form(
    client: TestClient, make_token: Callable[..., str]
) -> None:
    token = make_token(Scope.ingest)
    seq = _post(client, token, event()).json()["first_seq"]
    tokens = client.get("/v1/tokens").json()["items"]
    token_id = next(t["id"] for t in tokens if t["scope"] == "ingest")
    stored = client.get(f"/v1/events/{seq}").json()
    assert stored["origin"] == token_id
    # The audited read above is Custody's own record.
    reads = client.get("/v1/events", params={"action": "audit.read"}).json()["items"]
    assert reads and {r["origin"] for r in reads} == {"server"}
    assert {r["source"] for r in reads} == {"custody"}
    trail = client.get("/v1/replay", params={"from_seq": seq, "to_seq": seq})
    line = orjson.loads(trail.content.splitlines()[0])
    assert line["origin"] == token_id and line["verified"] is True
