"""Log explorer, replay, integrity and rules pages, and their audited reads."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import select

from service.auditlog.models import LogRecord
from service.auth.schemas import Scope
from service.evidence.cosign import cosign
from service.evidence.signing import Checkpoint
from tests.incidents.conftest import ingest


def test_log_explorer_filters_full_text_and_event(
    client: TestClient, browser_for: Any, sessions: Any
) -> None:
    ingest(client, 2)
    [seq] = ingest(
        client, 1, actor={"type": "user", "id": "mallory@example.com"}, action="model.export"
    )
    b = browser_for(Scope.read)
    page = b.get("/console/log?actor=mallory%40example.com").text
    assert "model.export" in page
    assert "model.invoke" not in page
    text = b.get("/console/log?q=mallory").text
    assert "model.export" in text
    assert "model.invoke" not in text
    r = b.get("/console/log?since=yesterday")
    assert r.status_code == 422
    assert "<strong>since</strong>" in r.text
    event = b.get(f"/console/log/{seq}")
    assert event.status_code == 200
    assert "mallory@example.com" in event.text
    assert "&#34;tokens_in&#34;: 512" in event.text  # the raw record, escaped
    assert b.get("/console/log/999").status_code == 404
    with sessions() as s:
        routes = [
            r.attributes_route
            for r in s.execute(
                select(LogRecord.resource_id.label("attributes_route")).where(
                    LogRecord.action == "audit.read"
                )
            )
        ]
    assert "/console/log" in routes
    assert f"/console/log/{seq}" in routes


def test_replay_range_shows_the_verification_trailer(client: TestClient, browser_for: Any) -> None:
    ingest(client, 5)
    assert client.post("/v1/log/checkpoints").status_code == 201
    b = browser_for(Scope.read)
    page = b.get("/console/log/replay?from_seq=2&to_seq=4")
    assert page.status_code == 200, page.text
    assert "Verified: 3 records, 3 anchored" in page.text
    r = b.get("/console/log/replay?from_seq=4&to_seq=2")
    assert r.status_code == 422
    assert "from_seq must not be greater than to_seq" in r.text


def test_integrity_page_and_verify_now(client: TestClient, browser_for: Any) -> None:
    ingest(client, 4)
    b = browser_for(Scope.read)
    assert "No checkpoint yet" in b.get("/console/integrity").text
    assert client.post("/v1/log/checkpoints").status_code == 201
    key = client.get("/v1/log/public-key").text
    page = b.get("/console/integrity").text
    assert "valid for the key below" in page
    assert key.strip().splitlines()[1] in page
    assert "No witness has cosigned this checkpoint" in page
    made = client.get("/v1/log/checkpoints/latest").json()
    made = {k: v for k, v in made.items() if k != "id"}
    witness = Ed25519PrivateKey.generate()
    cosignature = cosign(witness, Checkpoint.from_dict(made), 1_800_000_000)
    body = {"checkpoint": made, "cosignature": cosignature.to_dict()}
    stored = client.post("/v1/log/cosignatures", json=body)
    assert stored.status_code in (200, 201), stored.text
    page = b.get("/console/integrity").text
    assert f"witness <code>{cosignature.to_dict()['witness_key_id']}</code>" in page
    verified = b.get("/console/integrity/verify?from_seq=1").text
    assert "Chain intact" in verified
    assert "Verified: 1 records, 1 anchored" in verified
    assert b.get("/console/integrity/verify?from_seq=x").status_code == 422


def test_rules_page_counters_and_backtest(client: TestClient, browser_for: Any) -> None:
    b = browser_for(Scope.read)
    page = b.get("/console/rules")
    assert page.status_code == 200
    deployed = client.get("/v1/rules").json()["items"]
    assert deployed
    assert deployed[0]["id"] in page.text
    ingest(client, 3)
    result = b.get("/console/rules/backtest?from_seq=1&to_seq=3")
    assert result.status_code == 200
    api = client.post("/v1/rules/backtest", json={"from_seq": 1, "to_seq": 3}).json()
    assert f"{api['events']} events, {api['firings']} firings" in result.text
    bad = b.get("/console/rules/backtest?since=soon")
    assert bad.status_code == 422
    assert "<strong>since</strong>" in bad.text
