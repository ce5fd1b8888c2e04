"""SP 800-61r3 in practice: categories, the CSF report section, improvement items."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from service.auditlog.models import LogRecord
from service.cli import app as cli
from service.db import session_scope
from service.incidents.audit import audit_incident
from tests.conftest import event
from tests.incidents.conftest import ingest, open_incident, patch
from tests.rules import live


def test_category_from_the_rule_then_changed_by_a_responder(
    client: TestClient, sessions: Any
) -> None:
    deleted = event(action="guardrail.delete", resource={"type": "guardrail", "id": "g1"})
    r = client.post("/v1/events", json=[deleted])
    assert r.status_code == 200
    live.drain(live.runner(live.REPO / "rules"), sessions)
    [incident] = client.get("/v1/incidents").json()["items"]
    assert incident["category"] == "logging_tampering"  # custom.category of the rule

    assert patch(client, incident, category="agent_misuse").status_code == 200
    listed = client.get("/v1/incidents", params={"category": "agent_misuse"}).json()["items"]
    assert [i["id"] for i in listed] == [incident["id"]]
    assert client.get("/v1/incidents", params={"category": "abuse"}).json()["items"] == []

    bad = patch(client, incident, category="aliens")
    assert bad.status_code == 422 and "category" in bad.text
    assert client.get(f"/v1/incidents/{incident['id']}").json()["category"] == "agent_misuse"
    with session_scope(sessions) as session:
        assert audit_incident(session=session, incident_id=incident["id"]).ok


def test_improvements_are_tracked_logged_and_reported(client: TestClient, sessions: Any) -> None:
    inc = open_incident(client, title="Weights pulled", evidence=ingest(client, 2),
                        category="exfiltration")  # fmt: skip
    steps = client.get(f"/v1/incidents/{inc['id']}/runbook").json()["phases"]
    declare = next(s for p in steps for s in p["steps"] if s["id"] == "declare")
    assert declare["csf"] == ["RS.MA-02", "RS.MA-03", "DE.AE-08"]
    r = client.post(f"/v1/incidents/{inc['id']}/runbook/steps/declare",
                    json={"status": "done", "note": "confirmed: not a backup job"})  # fmt: skip
    assert r.status_code == 200, r.text

    made = client.post(f"/v1/incidents/{inc['id']}/improvements",
                       json={"kind": "rule", "title": "Alert on bulk weight reads",
                             "detail": "first download rule missed the second model"})  # fmt: skip
    assert made.status_code == 201, made.text
    item = made.json()
    assert item["id"] == "IMP-1" and item["status"] == "open" and item["incident"] == inc["id"]
    client.post(f"/v1/incidents/{inc['id']}/improvements",
                json={"kind": "control_gap", "title": "No egress limit on the artifact bucket"})

    backlog = client.get("/v1/improvements", params={"status": "open"}).json()["items"]
    assert [i["id"] for i in backlog] == ["IMP-1", "IMP-2"]
    closed = client.post("/v1/improvements/IMP-1/close",
                         json={"status": "done", "note": "rule merged"})  # fmt: skip
    assert closed.status_code == 200 and closed.json()["closed_by"]
    again = client.post("/v1/improvements/IMP-1/close", json={"status": "done", "note": "twice"})
    assert again.status_code == 409 and "already done" in again.text
    assert [i["id"] for i in client.get("/v1/improvements?status=open").json()["items"]] == [
        "IMP-2"
    ]

    # Bad input names the field and changes nothing.
    for body, field in (({"kind": "vibes", "title": "x y z"}, "kind"),
                        ({"kind": "rule", "title": "x", "extra": 1}, "extra")):  # fmt: skip
        refused = client.post(f"/v1/incidents/{inc['id']}/improvements", json=body)
        assert refused.status_code == 422 and field in refused.text
    assert client.post("/v1/incidents/INC-99/improvements",
                       json={"kind": "rule", "title": "x y z"}).status_code == 404  # fmt: skip
    assert len(client.get("/v1/improvements").json()["items"]) == 2

    # In the incident's history and log, and the audit still rebuilds it.
    kinds = [e["kind"] for e in client.get(f"/v1/incidents/{inc['id']}/timeline").json()["items"]]
    assert kinds.count("improvement") == 3
    with session_scope(sessions) as session:
        actions = session.scalars(select(LogRecord.action).where(
            LogRecord.action == "incident.improvement")).all()  # fmt: skip
        assert len(actions) == 3
        assert audit_incident(session=session, incident_id=inc["id"]).ok

    report = client.get(f"/v1/incidents/{inc['id']}/report").text
    section = report.split("## NIST CSF 2.0 (SP 800-61 Rev. 3)")[1]
    assert [line for line in section.splitlines() if line.startswith("### ")] == [
        "### Detect", "### Respond", "### Recover", "### Identify"]  # fmt: skip
    respond = section.split("### Respond")[1].split("### Recover")[0]
    assert "Triage, validate and declare the incident (`declare`): RS.MA-02, RS.MA-03" in respond
    assert "Nothing recorded." in section.split("### Recover")[1].split("### Identify")[0]
    identify = section.split("### Identify")[1]
    assert "Improvement IMP-1 (rule, done): Alert on bulk weight reads" in identify
    assert "- DE.AE-08: Incidents are declared" in section
    assert "| category | exfiltration |" in report


def test_backtest_a_proposed_rule_against_the_incident_window(
    client: TestClient, sessions: Any, settings: Any, tmp_path: Any
) -> None:
    deleted = event(action="guardrail.delete", resource={"type": "guardrail", "id": "g7"})
    r = client.post("/v1/events", json=[deleted])
    assert r.status_code == 200
    inc = open_incident(client, title="guardrail gone", evidence=[r.json()["first_seq"]])
    rule = tmp_path / "proposed.yml"
    rule.write_text(
        "title: Guardrail deleted (proposed)\nid: 3f1a6c1e-1b2f-4c52-9d3e-6a8f0c2b7d11\n"
        "level: high\nlogsource: {product: custody}\n"
        "detection:\n  sel: {action: guardrail.delete}\n  condition: sel\n"
    )
    env = {"CUSTODY_DATABASE_URL": settings.database_url, "COLUMNS": "200"}
    result = CliRunner().invoke(
        cli, ["rules", "backtest", "--incident", inc["id"], "--rules", str(rule)], env=env
    )
    assert result.exit_code == 0, result.output
    assert "Incidents that would have opened: 1" in result.output
    missing = CliRunner().invoke(cli, ["rules", "backtest", "--incident", "INC-42"], env=env)
    assert missing.exit_code == 2 and "No incident INC-42" in missing.output
