"""Only records Custody wrote itself carry internal meaning: a record that a token got
into the log (before ingest refused them, or through a bug) explains nothing."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from service.auditlog.chain import append
from service.auditlog.prepare import Prepared, payload_body
from service.cli import app as cli
from service.db import session_scope
from service.logformat import format_time
from tests.conftest import event
from tests.evidence.dbhelpers import replay_lines, without_triggers


def smuggle(
    app: Any,
    *,
    action: str,
    resource: dict[str, str],
    attributes: dict[str, Any] | None,
    origin: str = "tok_mallory",
) -> int:
    """Append a `source: custody` record past the ingest checks, chained correctly:
    what a forged record from before the fix (or a bug) looks like in the log."""
    body = payload_body(attributes, None)
    time = format_time(datetime.now(UTC))
    prepared = Prepared(
        index=0, event_id=None, time=time, source="custody", action=action,
        outcome="success", actor={"type": "token", "id": "tok_mallory"}, resource=resource,
        request_id=None, body=body, content_hash=hashlib.sha256(body).hexdigest(),
    )  # fmt: skip
    with session_scope(app.state.sessionmaker) as session:
        appended = append(session=session, events=[prepared], origin=origin)
    assert appended.last_seq is not None
    return appended.last_seq


def _verify(db_url: str) -> Any:
    return CliRunner().invoke(cli, ["verify"], env={"CUSTODY_DATABASE_URL": db_url})


def test_forged_erase_then_payload_delete_is_caught(
    client: TestClient, app: Any, backend: str, db_url: str
) -> None:
    seq = client.post("/v1/events", json=event(attributes={"prompt": "secret"})).json()["first_seq"]
    # The attack as it was: ingest a custody `event.erase` naming the seq. Refused now.
    erased = {"type": "event", "id": str(seq)}
    forged = event(source="custody", action="event.erase", resource=erased)
    assert client.post("/v1/events", json=forged).status_code == 422
    # Even if such a record is in the log, the database refuses the payload delete...
    smuggle(app, action="event.erase", resource=erased, attributes={})
    with pytest.raises(DBAPIError, match="no server-origin"), app.state.engine.begin() as conn:
        conn.execute(text(f"DELETE FROM log_payloads WHERE seq = {seq}"))
    # ...and with the guard off, verify and replay still call it tampering.
    without_triggers(app, backend, f"DELETE FROM log_payloads WHERE seq = {seq}")
    result = _verify(db_url)
    assert result.exit_code == 1, result.output
    assert f"seq {seq}" in result.output and "payload missing without an erasure" in result.output
    _, trailer = replay_lines(client, from_seq=1)
    assert trailer["verified"] is False and trailer["first_bad_seq"] == seq


def test_a_real_erasure_passes_the_guard_and_verifies(
    client: TestClient, app: Any, db_url: str
) -> None:
    seq = client.post("/v1/events", json=event(attributes={"prompt": "secret"})).json()["first_seq"]
    r = client.post(f"/v1/events/{seq}/erase", json={"reason": "data subject request"})
    assert r.status_code == 200, r.text
    record = client.get(f"/v1/events/{r.json()['erase_seq']}").json()
    assert (record["origin"], record["resource"]) == ("server", {"type": "event", "id": str(seq)})
    assert _verify(db_url).exit_code == 0


def _audit(db_url: str, incident_id: str) -> Any:
    return CliRunner().invoke(
        cli,
        ["incidents", "audit", incident_id],
        env={"CUSTODY_DATABASE_URL": db_url, "COLUMNS": "400"},
    )


def test_incidents_audit_ignores_token_records_and_reports_malformed_ones(
    client: TestClient, app: Any, db_url: str
) -> None:
    r = client.post("/v1/incidents", json={"title": "Weights exfiltration", "severity": "high"})
    assert r.status_code == 201, r.text
    incident = {"type": "incident", "id": r.json()["id"]}
    # A token's record claiming to change the incident means nothing to the audit.
    smuggle(app, action="incident.update", resource=incident, attributes=None)
    smuggle(
        app,
        action="incident.update",
        resource=incident,
        attributes={"version": 9, "changes": {"severity": ["high", "low"]}},
    )
    result = _audit(db_url, incident["id"])
    assert result.exit_code == 0, result.output
    # A server record without the attributes its action needs (the old KeyError
    # 'version', forever) is a finding, not a crash.
    seq = smuggle(
        app, action="incident.update", resource=incident, attributes=None, origin="server"
    )
    result = _audit(db_url, incident["id"])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"log seq {seq} (incident.update): malformed record" in result.output
    assert "KeyError: 'version'" in result.output


def test_incident_records_in_the_log_are_server_origin(client: TestClient) -> None:
    r = client.post("/v1/incidents", json={"title": "Weights exfiltration", "severity": "high"})
    incident_id = r.json()["id"]
    items = client.get(
        "/v1/events", params={"resource_type": "incident", "resource_id": incident_id}
    ).json()["items"]
    assert items and {(i["source"], i["origin"]) for i in items} == {("custody", "server")}
    assert orjson.dumps(items)  # plain JSON
