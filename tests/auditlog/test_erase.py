"""Erasure removes an event's payload, keeps the chain valid and is itself logged."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from service.cli import app as cli
from tests.conftest import event
from tests.evidence.dbhelpers import without_triggers


def _seed(client: TestClient) -> int:
    batch = [event(id=f"x{i}", attributes={"prompt": f"my ssn is 078-05-112{i}"}) for i in range(5)]
    r = client.post("/v1/events", json=batch)
    return int(r.json()["first_seq"]) + 2


def test_erasure_keeps_the_chain_valid_and_is_logged(client: TestClient, db_url: str) -> None:
    seq = _seed(client)
    r = client.post(f"/v1/events/{seq}/erase", json={"reason": "GDPR art. 17 request #991"})
    assert r.status_code == 200, r.text
    erase_seq = r.json()["erase_seq"]

    erased = client.get(f"/v1/events/{seq}").json()
    assert erased["erased"] is True
    assert erased["attributes"] is None
    assert erased["hash"]  # the record and its place in the chain remain

    record = client.get(f"/v1/events/{erase_seq}").json()
    assert record["action"] == "event.erase"
    assert record["resource"] == {"type": "event", "id": str(seq)}
    assert record["attributes"]["reason"] == "GDPR art. 17 request #991"

    result = CliRunner().invoke(cli, ["verify"], env={"CUSTODY_DATABASE_URL": db_url})
    assert result.exit_code == 0, result.output
    replay = client.get("/v1/replay", params={"from_seq": 1})
    trailer = orjson.loads(replay.content.splitlines()[-1])["trailer"]
    assert trailer["verified"] is True


def test_erasure_needs_a_reason_and_happens_once(client: TestClient, app: Any) -> None:
    seq = _seed(client)
    r = client.post(f"/v1/events/{seq}/erase", json={"reason": ""})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "reason"
    with app.state.engine.connect() as conn:
        assert (
            conn.execute(text(f"SELECT count(*) FROM log_payloads WHERE seq = {seq}")).scalar() == 1
        )
    assert (
        client.post(f"/v1/events/{seq}/erase", json={"reason": "subject request"}).status_code
        == 200
    )
    again = client.post(f"/v1/events/{seq}/erase", json={"reason": "subject request"})
    assert again.status_code == 409
    assert (
        client.post("/v1/events/999999/erase", json={"reason": "subject request"}).status_code
        == 404
    )


def test_a_payload_deleted_without_erasure_is_refused_and_still_tampering(
    client: TestClient, app: Any, backend: str, db_url: str
) -> None:
    seq = _seed(client)
    refused = pytest.raises(DBAPIError, match=r"no server-origin event\.erase record")
    with refused, app.state.engine.begin() as conn:
        conn.execute(text(f"DELETE FROM log_payloads WHERE seq = {seq}"))
    # An attacker who can switch the guard off still cannot hide the deletion.
    without_triggers(app, backend, f"DELETE FROM log_payloads WHERE seq = {seq}")
    result = CliRunner().invoke(cli, ["verify"], env={"CUSTODY_DATABASE_URL": db_url})
    assert result.exit_code == 1
    assert f"seq {seq}" in result.output
    assert "payload missing without an erasure record" in result.output
