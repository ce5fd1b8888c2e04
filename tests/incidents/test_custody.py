"""Chain of custody: the log alone rebuilds the incident; table edits are detected."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from service.cli import app as cli
from tests.evidence.dbhelpers import without_triggers
from tests.incidents.conftest import ingest, open_incident, patch


def _audit(db_url: str, incident_id: str) -> Any:
    return CliRunner().invoke(
        cli,
        ["incidents", "audit", incident_id],
        env={"CUSTODY_DATABASE_URL": db_url, "COLUMNS": "400"},
    )


def _busy_incident(client: TestClient) -> dict[str, Any]:
    seqs = ingest(client, 4)
    inc = open_incident(client, evidence=seqs[:2], tags=["atlas.aml.t0024"])
    url = f"/v1/incidents/{inc['id']}"
    assert client.post(f"{url}/comments", json={"body": "on it"}).status_code == 201
    assert client.post(f"{url}/evidence", json={"seqs": seqs[2:]}).status_code == 200
    assert patch(client, inc, status="acknowledged", assignee="bob").status_code == 200
    steps = client.get(f"{url}/runbook").json()["phases"][0]["steps"]
    r = client.post(f"{url}/runbook/steps/{steps[0]['id']}", json={"status": "done", "note": "x"})
    assert r.status_code == 200, r.text
    return {**inc, "seqs": seqs}


def test_audit_ok_on_untouched_incident(client: TestClient, db_url: str) -> None:
    _busy_incident(client)
    result = _audit(db_url, "INC-1")
    assert result.exit_code == 0, result.output
    assert "OK INC-1 matches its 5 log records" in result.output


def test_direct_sql_edit_of_the_incident_row_is_detected(
    client: TestClient, app: Any, db_url: str
) -> None:
    _busy_incident(client)
    with app.state.engine.begin() as conn:
        conn.execute(
            text("UPDATE incidents SET severity = 'low', assignee = 'mallory' WHERE number = 1")
        )
    result = _audit(db_url, "INC-1")
    assert result.exit_code == 1
    assert "severity: table says 'low', log says 'high'" in result.output
    assert "assignee: table says 'mallory', log says 'bob'" in result.output


def test_deleted_evidence_comment_and_step_edits_are_refused_then_detected(
    client: TestClient, app: Any, backend: str, db_url: str
) -> None:
    seq = _busy_incident(client)["seqs"][0]
    edits = (
        f"DELETE FROM incident_evidence WHERE incident_number = 1 AND seq = {seq}",
        "UPDATE incident_timeline SET body = 'nothing' WHERE kind = 'comment'",
    )
    for sql in edits:  # the timeline and evidence links are append-only in the database
        with pytest.raises(DBAPIError, match="append-only"), app.state.engine.begin() as conn:
            conn.execute(text(sql))
    # With the guards switched off, the audit still sees every edit.
    without_triggers(
        app, backend, *edits, "DELETE FROM incident_runbooks WHERE incident_number = 1"
    )
    result = _audit(db_url, "INC-1")
    assert result.exit_code == 1
    assert f"evidence seqs: not in the log [], missing from the tables [{seq}]" in result.output
    assert "comments" in result.output and "runbook: table says None" in result.output


def test_audit_of_an_incident_that_never_existed_is_an_error(
    db_url: str, client: TestClient
) -> None:
    result = _audit(db_url, "INC-5")
    assert result.exit_code == 1  # neither the tables nor the log have it: not "OK"
    assert "No incident INC-5" in result.output
