"""flows.apply_firings: what the correlation engine calls."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from service.db import make_engine, make_sessionmaker, session_scope
from service.incidents import flows
from service.incidents.models import Incident
from service.incidents.sla import SlaPolicy
from service.rules.model import Firing, Severity
from tests.conftest import REPO
from tests.incidents.conftest import ingest, patch

T0 = datetime(2026, 11, 30, 12, tzinfo=UTC)


POLICY = flows.Policy(runbooks_dir=REPO / "runbooks", sla=SlaPolicy())


def firing_for(seqs: list[int], *, key: str = "k1", minutes: int = 0) -> Firing:
    return Firing(
        rule_id="rule-exfil",
        rule_hash="ab" * 32,
        title="Bulk weight download",
        severity=Severity("high"),
        tags=("atlas.aml.t0024",),
        runbook=None,
        group={"actor.id": "alice@example.com"},
        dedup_key=key,
        evidence=tuple(seqs),
        first_seen=T0 + timedelta(minutes=minutes),
        last_seen=T0 + timedelta(minutes=minutes + 1),
    )


def fire(session: Any, seqs: list[int], *, key: str = "k1", minutes: int = 0) -> Incident:
    firing = firing_for(seqs, key=key, minutes=minutes)
    flows.apply_firings(session=session, firings=[firing], policy=POLICY)
    found = session.scalars(select(Incident).where(Incident.dedup_key == key)
                            .order_by(Incident.number.desc())).first()  # fmt: skip
    assert found is not None
    return found


def test_opens_then_dedups_into_the_active_incident(client: TestClient, sessions: Any) -> None:
    seqs = ingest(client, 6)
    with session_scope(sessions) as s:
        first = fire(s, seqs[:2]).public_id
    with session_scope(sessions) as s:
        again = fire(s, seqs[1:4], minutes=5)
        assert again.public_id == first
    with session_scope(sessions) as s:
        fire(s, seqs[1:4], minutes=5)  # the same firing replayed: no change
    body = client.get(f"/v1/incidents/{first}").json()
    assert body["event_count"] == 4 and body["version"] == 2
    assert body["rule_id"] == "rule-exfil" and body["group"] == {"actor.id": "alice@example.com"}
    assert body["last_seen"].startswith("2026-11-30T12:06")
    assert body["runbook_id"] == "model-exfiltration"  # by applies_to (tag)
    kinds = [e["kind"] for e in client.get(f"/v1/incidents/{first}/timeline").json()["items"]]
    assert kinds == ["open", "evidence"]

    # Resolved (no longer active): the next firing opens a new incident.
    inc = {"id": first}
    assert patch(client, inc, status="false_positive").status_code == 200
    with session_scope(sessions) as s:
        assert fire(s, seqs[4:]).public_id == "INC-2"


def test_one_batch_opens_extends_and_merges(client: TestClient, sessions: Any) -> None:
    seqs = ingest(client, 10)
    with session_scope(sessions) as s:
        fire(s, seqs[:2], key="old")
    batch = [
        firing_for(seqs[2:4], key="old", minutes=3),  # extends INC-1
        firing_for(seqs[4:6], key="new-a"),
        firing_for(seqs[6:7], key="new-b"),
        firing_for(seqs[5:8], key="new-a", minutes=2),  # same key in the batch: merged
    ]
    with session_scope(sessions) as s:
        outcomes = flows.apply_firings(session=s, firings=batch, policy=POLICY)
    assert [(f.dedup_key, o) for f, o in outcomes] == [
        ("old", flows.Outcome.extended),
        ("new-a", flows.Outcome.opened),
        ("new-b", flows.Outcome.opened),
    ]
    listed = {i["id"]: i for i in client.get("/v1/incidents?limit=10").json()["items"]}
    assert sorted(listed) == ["INC-1", "INC-2", "INC-3"]
    assert listed["INC-1"]["event_count"] == 4
    assert listed["INC-2"]["event_count"] == 4 and listed["INC-3"]["event_count"] == 1
    for public_id in ("INC-2", "INC-3"):
        body = client.get(f"/v1/incidents/{public_id}").json()
        assert body["runbook_id"] == "model-exfiltration"
        timeline = client.get(f"/v1/incidents/{public_id}/timeline").json()["items"]
        assert [e["kind"] for e in timeline] == ["open"]
    # Each opening is its own record in the log, chained like any other.
    log = client.get("/v1/events", params={"source": "custody", "action": "incident.open"}).json()
    assert sorted(e["resource"]["id"] for e in log["items"]) == ["INC-1", "INC-2", "INC-3"]
    assert client.get("/v1/log/verify").json()["ok"] is True
    with session_scope(sessions) as s:  # the same batch replayed: nothing changes
        again = flows.apply_firings(session=s, firings=batch, policy=POLICY)
    assert {o for _, o in again} == {flows.Outcome.unchanged}


def test_racing_workers_open_one_incident(client: TestClient, db_url: str) -> None:
    seqs = ingest(client, 8)
    factory = make_sessionmaker(make_engine(db_url))
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        barrier.wait()
        try:
            with session_scope(factory) as s:
                fire(s, [seqs[n * 2], seqs[n * 2 + 1]], key="race")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with session_scope(factory) as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 1
        assert s.scalar(select(Incident.event_count)) == 8
    factory.kw["bind"].dispose()
