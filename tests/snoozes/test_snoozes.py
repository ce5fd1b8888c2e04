"""Snoozes: a silenced rule opens nothing for its group or entity, counts what it
silenced, logs every step, expires, and cannot hide a critical rule without admin."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from service.auditlog.models import LogRecord
from service.auth.schemas import Scope
from service.db import session_scope
from service.rules.ruleset import RuleRegistry
from service.snoozes.service import expire
from tests.rules import live
from tests.rules.packs import PACK, SCENARIOS

LATER = (datetime.now(UTC) + timedelta(hours=1)).isoformat()


@pytest.fixture
def pack(app: Any, tmp_path: Path) -> Path:
    critical = PACK["event_count.yml"].replace("level: high", "level: critical")
    directory = live.write_rules(tmp_path / "pack", {**PACK, "event_count.yml": critical})
    app.state.rules = RuleRegistry(directory)
    return directory


def actions(sessions: Any, prefix: str) -> list[str]:
    with session_scope(sessions) as session:
        return list(
            session.scalars(
                select(LogRecord.action)
                .where(LogRecord.action.like(f"{prefix}%"))
                .order_by(LogRecord.seq)
            )
        )


def test_snoozed_group_opens_nothing_and_counts_what_it_silenced(
    client: TestClient, sessions: Any, pack: Path
) -> None:
    created = client.post(
        "/v1/snoozes",
        json={
            "rule": "many_models",
            "group": {"actor.id": "eve"},
            "until": LATER,
            "reason": "eve is migrating models this week (CHG-881)",
        },
    )
    assert created.status_code == 201, created.text
    snooze = created.json()
    assert snooze["id"] == "SNZ-1" and snooze["active"] and snooze["suppressed"] == 0

    seqs = live.ingest(client, SCENARIOS["many_models"])
    live.drain(live.runner(pack), sessions)
    assert live.incidents(sessions) == {}
    after = client.get("/v1/snoozes/SNZ-1").json()
    assert after["suppressed"] == 1 and set(after["seqs"]) <= set(seqs) and after["seqs"]
    assert actions(sessions, "snooze.") == ["snooze.create", "snooze.suppress"]

    # Someone else doing the same still opens an incident.
    others = [{**e, "actor": {**e["actor"], "id": "mallory"}} for e in SCENARIOS["many_models"]]
    live.ingest(client, others)
    live.drain(live.runner(pack), sessions)
    assert len(live.incidents(sessions)) == 1

    released = client.post("/v1/snoozes/SNZ-1/release", json={"reason": "migration done"})
    assert released.status_code == 200 and not released.json()["active"]
    again = client.post("/v1/snoozes/SNZ-1/release", json={"reason": "twice"})
    assert again.status_code == 409
    assert client.get("/v1/snoozes", params={"active": "true"}).json()["items"] == []


def test_entity_snooze_and_expiry(client: TestClient, sessions: Any, pack: Path) -> None:
    soon = datetime.now(UTC) + timedelta(minutes=5)
    created = client.post(
        "/v1/snoozes",
        json={"rule": "many_models", "entity": "actor:eve", "until": soon.isoformat(),
              "reason": "known migration"},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    live.ingest(client, SCENARIOS["many_models"])
    live.drain(live.runner(pack), sessions)
    assert live.incidents(sessions) == {}
    with session_scope(sessions) as session:
        assert expire(session=session, now=soon + timedelta(seconds=1)) == 1
    with session_scope(sessions) as session:
        assert expire(session=session, now=soon + timedelta(seconds=2)) == 0
    assert actions(sessions, "snooze.")[-1] == "snooze.expire"


def test_critical_rules_need_admin_and_bad_snoozes_are_refused(
    client: TestClient, make_token: Callable[..., str], pack: Path
) -> None:
    responder = {"Authorization": f"Bearer {make_token(Scope.respond)}"}
    body = {"rule": "denied_burst", "group": {"actor.id": "x"}, "until": LATER, "reason": "noise"}
    refused = client.post("/v1/snoozes", json=body, headers=responder)
    assert refused.status_code == 403 and "admin" in refused.json()["detail"]
    assert client.post("/v1/snoozes", json=body).status_code == 201  # admin
    low = {**body, "rule": "many_models"}
    assert client.post("/v1/snoozes", json=low, headers=responder).status_code == 201
    reader = {"Authorization": f"Bearer {make_token(Scope.read)}"}
    assert client.post("/v1/snoozes", json=low, headers=reader).status_code == 403

    for bad, field in (
        ({**body, "rule": "nope"}, "rule"),
        ({**body, "until": "2020-01-01T00:00:00Z"}, "until"),
        ({**body, "entity": "actor:x"}, "body"),  # both group and entity
        (
            {"rule": "many_models", "entity": "colour:red", "until": LATER, "reason": "x y"},
            "entity",
        ),
        ({**body, "snooze": "typo"}, "snooze"),
    ):
        response = client.post("/v1/snoozes", json=bad)
        assert response.status_code == 422, (bad, response.text)
        assert field in response.text
