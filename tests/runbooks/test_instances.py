"""Runbook instances on incidents: attach, pin, track steps, gate resolve, swap, report."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.rules.runner import build as build_runner
from tests.conftest import REPO, event
from tests.incidents.conftest import finish_required_steps, ingest, open_incident, patch


def _steps(client: TestClient, incident_id: str) -> list[dict[str, Any]]:
    body = client.get(f"/v1/incidents/{incident_id}/runbook").json()
    return [s for p in body["phases"] for s in p["steps"]]


def _step(client: TestClient, incident_id: str, step_id: str, **body: Any) -> Any:
    return client.post(f"/v1/incidents/{incident_id}/runbook/steps/{step_id}", json=body)


def test_library_routes(client: TestClient) -> None:
    items = client.get("/v1/runbooks").json()["items"]
    assert "generic-ai-incident" in {i["id"] for i in items}
    one = client.get("/v1/runbooks/model-exfiltration").json()
    assert one["phases"][0]["phase"] == "analysis" and one["content_hash"]
    assert client.get("/v1/runbooks/nope").status_code == 404


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"runbook_id": "api-key-abuse", "tags": ["atlas.aml.t0024"]}, "api-key-abuse"),
        ({"tags": ["atlas.aml.t0024"]}, "model-exfiltration"),
        ({"tags": []}, "generic-ai-incident"),
    ],
)
def test_selection_explicit_then_applies_to_then_fallback(
    client: TestClient, fields: dict[str, Any], expected: str
) -> None:
    inc = open_incident(client, **fields)
    body = client.get(f"/v1/incidents/{inc['id']}/runbook").json()
    assert body["runbook_id"] == expected
    assert body["progress"]["open"] == body["progress"]["total"] > 0
    step = body["phases"][0]["steps"][0]
    assert {
        "id",
        "title",
        "required",
        "status",
        "instructions",
        "done_by",
        "done_at",
        "note",
    } <= set(step)
    assert inc["id"] in body["overview"] + "".join(
        s["instructions"] for s in _steps(client, inc["id"])
    )


def test_instance_is_pinned_to_the_template_at_open(
    client: TestClient, app: Any, tmp_path: Path
) -> None:
    runbooks = tmp_path / "runbooks"
    shutil.copytree(REPO / "runbooks", runbooks)
    app.state.settings.runbooks_dir = runbooks
    inc = open_incident(client, tags=["atlas.aml.t0024"])
    before = client.get(f"/v1/incidents/{inc['id']}/runbook").json()

    path = runbooks / "model-exfiltration.md"
    path.write_text(
        path.read_text().replace(
            "## step: quantify-loss\n", "## step: quantify-loss\nEDITED LATER\n"
        )
    )
    after = client.get(f"/v1/incidents/{inc['id']}/runbook").json()
    assert after == before
    assert "EDITED LATER" not in str(after)
    fresh = open_incident(client, tags=["atlas.aml.t0024"])
    newer = client.get(f"/v1/incidents/{fresh['id']}/runbook").json()
    assert newer["content_hash"] != before["content_hash"]
    assert "EDITED LATER" in str(newer)


def test_resolve_is_gated_on_required_steps(client: TestClient) -> None:
    inc = open_incident(client)
    assert patch(client, inc, status="acknowledged").status_code == 200
    r = patch(client, inc, status="resolved")
    assert r.status_code == 409
    required = [s["id"] for s in _steps(client, inc["id"]) if s["required"]]
    assert r.json()["open_steps"] == required
    assert all(step in r.json()["detail"] for step in required)
    finish_required_steps(client, inc["id"])
    assert patch(client, inc, status="resolved").status_code == 200


def test_step_rules(client: TestClient) -> None:
    inc = open_incident(client)
    steps = _steps(client, inc["id"])
    optional = next((s for s in steps if not s["required"]), None)
    required = next(s for s in steps if s["required"])
    assert _step(client, inc["id"], required["id"], status="skipped", note="n/a").status_code == 422
    if optional is not None:
        assert _step(client, inc["id"], optional["id"], status="skipped").status_code == 422
        r = _step(client, inc["id"], optional["id"], status="skipped", note="not relevant")
        assert r.status_code == 200
    r = _step(client, inc["id"], required["id"], status="done", note="checked")
    body = r.json()
    done = next(s for p in body["phases"] for s in p["steps"] if s["id"] == required["id"])
    assert (
        done["status"] == "done"
        and done["done_by"]
        and done["done_at"]
        and done["note"] == "checked"
    )
    assert _step(client, inc["id"], required["id"], status="open").status_code == 422
    assert _step(client, inc["id"], required["id"], status="open", note="redo").status_code == 200
    assert _step(client, inc["id"], "no-such-step", status="done").status_code == 404
    seqs = ingest(client, 1)
    r = _step(client, inc["id"], required["id"], status="done", note="x", evidence=seqs)
    assert r.status_code == 200
    assert client.get(f"/v1/incidents/{inc['id']}").json()["event_count"] == 1
    assert (
        _step(
            client, inc["id"], required["id"], status="done", note="x", evidence=[999]
        ).status_code
        == 422
    )
    kinds = [e["kind"] for e in client.get(f"/v1/incidents/{inc['id']}/timeline").json()["items"]]
    assert kinds.count("runbook.step") == 4 if optional is not None else 3


def test_swap_is_recorded(client: TestClient) -> None:
    inc = open_incident(client)
    r = client.post(
        f"/v1/incidents/{inc['id']}/runbook",
        json={"runbook_id": "api-key-abuse", "reason": "it was a key"},
    )
    assert r.status_code == 200 and r.json()["runbook_id"] == "api-key-abuse"
    assert client.get(f"/v1/incidents/{inc['id']}").json()["runbook_id"] == "api-key-abuse"
    last = client.get(f"/v1/incidents/{inc['id']}/timeline").json()["items"][-1]
    assert last["kind"] == "runbook.swap" and last["body"] == "it was a key"
    assert last["details"]["from"]["runbook_id"] == "generic-ai-incident"
    log = client.get("/v1/events", params={"action": "incident.runbook.swap"}).json()["items"]
    assert len(log) == 1


def test_events_in_rule_fires_runbook_worked_resolved_report(
    client: TestClient, app: Any, sessions: Any, db_url: str
) -> None:
    ingest(client, 3)  # noise
    r = client.post("/v1/events", json=[event(
        action="logging.disable", source="inference-gateway",
        actor={"type": "user", "id": "ops@example.com"},
        resource={"type": "logging", "id": "gateway-audit"},
    )])  # fmt: skip
    assert r.status_code == 200
    evidence_seq = r.json()["first_seq"]
    runner = build_runner(app.state.settings)
    while runner.run_once(sessions):
        pass

    page = client.get("/v1/incidents", params={"status": "open"}).json()["items"]
    assert len(page) == 1
    inc = page[0]
    assert inc["rule_id"] == "19ba2712-8b98-49e8-b704-e950bda0881f"
    assert inc["runbook_id"] == "logging-guardrail-tampering"
    events = client.get(f"/v1/incidents/{inc['id']}/events").json()["items"]
    assert [e["seq"] for e in events] == [evidence_seq]

    assert patch(client, inc, status="acknowledged", assignee="oncall").status_code == 200
    client.post(f"/v1/incidents/{inc['id']}/comments", json={"body": "Re-enabled logging"})
    finish_required_steps(client, inc["id"])
    assert patch(client, inc, status="contained").status_code == 200
    assert patch(client, inc, status="resolved").status_code == 200

    report = client.get(f"/v1/incidents/{inc['id']}/report")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/markdown")
    text = report.text
    timeline = client.get(f"/v1/incidents/{inc['id']}/timeline").json()["items"]
    section = text.split("## Timeline")[1].split("## Evidence")[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == len(timeline)
    for entry in timeline:
        assert f"| {entry['log_seq']} |" in text
    assert "Re-enabled logging" in text
    assert events[0]["hash"] in text
    assert f"Anchored at open to log seq {inc['anchor_seq']}" in text
    assert "time to resolve" in text and "did " in text
    from typer.testing import CliRunner

    from service.cli import app as cli

    audited = CliRunner().invoke(
        cli, ["incidents", "audit", inc["id"]], env={"CUSTODY_DATABASE_URL": db_url}
    )
    assert audited.exit_code == 0, audited.output
