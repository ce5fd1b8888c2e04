"""The runner opens a batch's incidents in bulk: same incidents, evidence, entities,
runbook, timeline and log record as one by one, and every one audits clean."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from service.db import session_scope
from service.incidents.audit import audit_incident
from service.incidents.bulk import RuleFiring, open_or_update_many
from service.incidents.custody import snapshot
from service.incidents.models import Incident, IncidentEntity, TimelineEntry
from service.incidents.service import open_or_update_from_rule
from service.rules import Engine, load_rules
from service.rules.bench import incident_heavy, synthetic_events
from service.rules.logread import stream_events
from service.rules.merge import merge_firings
from service.runbooks.models import RunbookInstance
from tests.rules import live

RULES = live.REPO / "rules"
RUNBOOKS = live.REPO / "runbooks"


def _firings(sessions: Any) -> list[RuleFiring]:
    engine = Engine(load_rules(directory=RULES)[0])
    with session_scope(sessions) as session:
        fired = [f for e in stream_events(session=session) for f in engine.process(e)]
    return [
        RuleFiring(
            rule_id=f.rule_id,
            rule_hash=f.rule_hash,
            title=f.title,
            severity=str(f.severity),
            tags=tuple(f.tags),
            runbook_id=f.runbook,
            group=dict(f.group),
            dedup_key=f.dedup_key,
            evidence_seqs=f.evidence,
            first_seen=f.first_seen,
            last_seen=f.last_seen,
        )
        for f in merge_firings(fired)
    ]


def _view(session: Any, key: str) -> dict[str, Any]:
    inc = session.scalars(select(Incident).where(Incident.dedup_key == key)).one()
    state = snapshot(inc)
    for volatile in ("dedup_key", "anchor_seq", "ack_due_at", "resolve_due_at"):
        state.pop(volatile)
    runbook = session.get(RunbookInstance, inc.number)
    rendered = orjson_text(runbook.instance).replace(inc.public_id, "INC-?") if runbook else None
    entities = sorted(
        (e.type, e.value, e.count, e.first_seen, e.last_seen)
        for e in session.scalars(
            select(IncidentEntity).where(IncidentEntity.incident_number == inc.number)
        )
    )
    timeline = [
        (t.kind, t.actor_name, t.changes, t.details)
        for t in session.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.incident_number == inc.number)
            .order_by(TimelineEntry.id)
        )
    ]
    return {
        "state": state,
        "runbook": rendered,
        "entities": entities,
        "timeline": timeline,
        "audit": audit_incident(session=session, incident_id=inc.public_id).differences,
    }


def orjson_text(value: Any) -> str:
    import orjson

    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _one_by_one(sessions: Any, firings: list[RuleFiring]) -> None:
    with session_scope(sessions) as session:
        for f in firings:
            open_or_update_from_rule(
                session=session,
                rule_id=f.rule_id,
                rule_hash=f.rule_hash,
                title=f.title,
                severity=f.severity,
                tags=list(f.tags),
                runbook_id=f.runbook_id,
                group=dict(f.group),
                dedup_key=f.dedup_key + "-one",
                evidence_seqs=list(f.evidence_seqs),
                first_seen=f.first_seen,
                last_seen=f.last_seen,
                runbooks_dir=RUNBOOKS,
            )


def _same(sessions: Any, firings: list[RuleFiring]) -> None:
    with session_scope(sessions) as session:
        for f in firings:
            bulk, one = _view(session, f.dedup_key), _view(session, f.dedup_key + "-one")
            assert bulk["audit"] == [] and one["audit"] == []
            assert bulk == one


def test_bulk_open_and_extend_equal_one_by_one(client: TestClient, sessions: Any) -> None:
    live.ingest(client, incident_heavy(synthetic_events(count=400, seed=11)))
    firings = _firings(sessions)[:40]
    assert len(firings) >= 20
    with session_scope(sessions) as session:
        opened = open_or_update_many(session=session, firings=firings, runbooks_dir=RUNBOOKS)
    assert opened == [True] * len(firings)
    _one_by_one(sessions, firings)
    _same(sessions, firings)
    # The next batch extends the open incidents (new evidence, later last_seen, and one
    # firing that brings nothing new) instead of opening new ones.
    more = [
        replace(
            f,
            evidence_seqs=(*f.evidence_seqs, *firings[i + 1].evidence_seqs),
            last_seen=max(f.last_seen, firings[i + 1].last_seen),
        )
        for i, f in enumerate(firings[:6])
    ] + [firings[7]]
    with session_scope(sessions) as session:
        again = open_or_update_many(session=session, firings=more, runbooks_dir=RUNBOOKS)
    assert again == [False] * len(more)
    _one_by_one(sessions, more)
    _same(sessions, more)
    with session_scope(sessions) as session:
        kinds = [t[0] for t in _view(session, more[0].dedup_key)["timeline"]]
        unchanged = [t[0] for t in _view(session, firings[7].dedup_key)["timeline"]]
    assert kinds == ["open", "evidence"] and unchanged == ["open"]
