"""Sharing an incident: STIX 2.1 (checked by the stix2 library's own parser) and MISP,
under the incident's TLP; TLP:RED never leaves."""

from __future__ import annotations

import json
from typing import Any

import stix2
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from service.auditlog.models import LogRecord
from service.auth.schemas import Scope
from service.cli import app as cli
from service.db import session_scope
from service.sharing.content import api_key_digest
from tests.conftest import event
from tests.incidents.conftest import open_incident, patch
from tests.incidents.test_live import server  # noqa: F401  (the live uvicorn fixture)

AMBER = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"


def _incident(client: TestClient) -> dict[str, Any]:
    events = [
        event(actor={"type": "api_key", "id": "sk-live-abc123", "ip": "203.0.113.50",
                     "user_agent": "python-requests/2.32"},
              attributes={"prompt": "secret customer data"}),
        event(actor={"type": "user", "id": "mallory", "ip": "198.51.100.9"}),
        event(actor={"type": "user", "id": "mallory", "ip": "203.0.113.50"}),
    ]  # fmt: skip
    r = client.post("/v1/events", json=events)
    seqs = list(range(r.json()["first_seq"], r.json()["last_seq"] + 1))
    tags = ["atlas.aml.t0040", "attack.t1078.004"]
    title = "LLMjacking with a leaked key"
    return open_incident(client, title=title, evidence=seqs, tags=tags, category="abuse")


def test_stix_bundle_is_valid_marked_and_carries_no_payload(client: TestClient) -> None:
    inc = _incident(client)
    r = client.get(f"/v1/incidents/{inc['id']}/export", params={"format": "stix"})
    assert r.status_code == 200, r.text
    bundle = r.json()
    parsed = stix2.parse(json.dumps(bundle), allow_custom=False)  # a peer's parser
    objects = {o["type"]: [] for o in bundle["objects"]}
    for o in bundle["objects"]:
        objects[o["type"]].append(o)
    assert objects["marking-definition"][0]["id"] == AMBER  # the default TLP
    assert all(AMBER in o.get("object_marking_refs", [AMBER]) for o in bundle["objects"])
    [incident] = objects["incident"]
    assert incident["name"] == f"{inc['id']}: LLMjacking with a leaked key"
    assert "category:abuse" in incident["labels"]
    refs = {(r["source_name"], r["external_id"]) for a in objects["attack-pattern"]
            for r in a["external_references"]}  # fmt: skip
    assert refs == {("mitre-atlas", "AML.T0040"), ("mitre-attack", "T1078.004")}
    patterns = sorted(i["pattern"] for i in objects["indicator"])
    assert "[ipv4-addr:value = '203.0.113.50']" in patterns
    assert "[ipv4-addr:value = '198.51.100.9']" in patterns
    assert f"[user-account:user_id = 'sha256:{api_key_digest('sk-live-abc123')}']" in patterns
    assert any("User-Agent" in p and "python-requests/2.32" in p for p in patterns)
    sighting = next(s for s in objects["sighting"]
                    if s["sighting_of_ref"] in {i["id"] for i in objects["indicator"]
                                                if "203.0.113.50" in i["pattern"]})  # fmt: skip
    assert sighting["count"] == 2
    text = json.dumps(bundle)
    assert "sk-live-abc123" not in text and "secret customer data" not in text
    assert len(parsed.objects) == len(bundle["objects"])
    # Exporting again gives the same ids (a peer updates rather than duplicates).
    again = client.get(f"/v1/incidents/{inc['id']}/export", params={"format": "stix"}).json()
    assert {o["id"] for o in again["objects"]} == {o["id"] for o in bundle["objects"]}


def test_misp_event_and_tlp_levels(client: TestClient, sessions: Any) -> None:
    inc = _incident(client)
    assert patch(client, inc, tlp="TLP:GREEN").status_code == 200
    body = client.get(f"/v1/incidents/{inc['id']}/export", params={"format": "misp"}).json()
    ev = body["Event"]
    assert ev["info"].startswith(inc["id"]) and ev["threat_level_id"] == "1"
    assert {"name": "tlp:green"} in ev["Tag"] and ev["distribution"] == "1"
    assert {"name": 'misp-galaxy:mitre-atlas="AML.T0040"'} in ev["Tag"]
    values = {(a["type"], a["value"]) for a in ev["Attribute"]}
    assert ("ip-src", "203.0.113.50") in values and ("user-agent", "python-requests/2.32") in values
    assert ("sha256", api_key_digest("sk-live-abc123")) in values
    assert "sk-live-abc123" not in json.dumps(body)

    assert patch(client, inc, tlp="TLP:RED").status_code == 200
    refused = client.get(f"/v1/incidents/{inc['id']}/export", params={"format": "stix"})
    assert refused.status_code == 409 and "TLP:RED" in refused.json()["detail"]
    assert patch(client, inc, tlp="TLP:PURPLE").status_code == 422
    bad = client.get(f"/v1/incidents/{inc['id']}/export", params={"format": "pdf"})
    assert bad.status_code == 422 and "format" in bad.text
    with session_scope(sessions) as session:  # every export attempt is an audited read
        reads = session.scalars(select(LogRecord.resource_id).where(
            LogRecord.action == "audit.read")).all()  # fmt: skip
        # The MISP export and the refused TLP:RED one; the malformed request never ran.
        assert sum(1 for r in reads if r and r.endswith("/export")) == 2


def test_share_from_the_terminal(client: TestClient, server: str, make_token: Any) -> None:  # noqa: F811
    inc = _incident(client)
    env = {"CUSTODY_URL": server, "CUSTODY_TOKEN": make_token(Scope.read)}
    result = CliRunner().invoke(cli, ["share", inc["id"], "--format", "stix"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["type"] == "bundle"
    missing = CliRunner().invoke(cli, ["share", "INC-99"], env=env)
    assert missing.exit_code == 1 and "INC-99" in missing.output
