"""From the OpenTelemetry SDK to an incident: an agent run that fetches a page and then
posts data out opens an agent-misuse incident whose evidence bundle holds the whole run.
Live uvicorn, the real rules runner and the shipped pack, on both databases."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from fastapi.testclient import TestClient

from service.auth.schemas import Scope
from service.config import Settings
from service.rules.runner import build
from tests.otlp.agentrun import agent_run, provider


def test_indirect_injection_run_opens_an_incident(
    client: TestClient, server: str, make_token: Any, settings: Settings, sessions: Any
) -> None:
    tp = provider(server, make_token(Scope.ingest))
    ids = agent_run(tp)
    assert tp.force_flush(10_000)
    tp.shutdown()

    runner = build(settings)
    for _ in range(10):
        if not runner.run_once(sessions):
            break
    incidents = client.get("/v1/incidents").json()["items"]
    assert [i["rule_id"] for i in incidents] == ["3f9c1d7e-8b2a-4c6d-9e0f-2a4b6c8d0e33"]
    incident = client.get(f"/v1/incidents/{incidents[0]['id']}").json()
    assert incident["runbook_id"] == "agent-misuse"
    assert incident["group"] == {"request_id": ids["trace_id"]}
    assert "atlas.aml.t0051.001" in incident["tags"]

    bundle = client.post("/v1/exports", json={"incident": incident["id"]})
    assert bundle.status_code == 200, bundle.text
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as z:
        records = [json.loads(line) for line in z.read("records.ndjson").splitlines()]
    spans = {
        r["payload"]["attributes"].get("span_id") for r in records if r.get("payload") is not None
    }
    assert {ids[k] for k in ("root", "chat", "researcher", "fetch", "post")} <= spans
