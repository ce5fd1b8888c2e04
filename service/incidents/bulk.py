"""Opening many incidents from rule firings at once: the live rules runner's path.

For each firing this does what `open_or_update_from_rule` does, in firing order and with
the same rows and log records (snapshot, evidence, entities, runbook, timeline, outbox),
but with one statement per kind of row for all the incidents a runner batch opens,
instead of a dozen per incident. While a snooze is active, firings that would open an
incident take the one-by-one path (the snooze may silence them).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import insert, select, text, update
from sqlalchemy.orm import Session

from service.auditlog.chain import prepare_internal, read_head, record_internal_many
from service.incidents import entity_store
from service.incidents import evidence as evidence_mod
from service.incidents.custody import Actor, _announce, diff, now, snapshot
from service.incidents.models import Incident, IncidentEntity, IncidentEvidence, TimelineEntry
from service.incidents.schemas import Severity, Status
from service.incidents.service import open_or_update_from_rule
from service.incidents.sla import SlaPolicy, start_clocks
from service.logging import get_logger
from service.notify import outbox
from service.runbooks import library
from service.runbooks.errors import NoRunbookFound
from service.runbooks.instances import render_for
from service.runbooks.match import select_runbook
from service.runbooks.models import RunbookInstance
from service.snoozes.models import Snooze

log = get_logger(__name__)
_CHUNK = 500
# Runbook templates are re-checked on disk (a stat per file) at most this often here:
# a busy runner opens incidents in many batches a second.
TEMPLATES_TTL = 5.0
_templates: dict[Path, tuple[float, list[Any]]] = {}


@dataclass(frozen=True, slots=True)
class RuleFiring:
    rule_id: str
    rule_hash: str
    title: str
    severity: str
    tags: Sequence[str]
    runbook_id: str | None
    group: dict[str, Any]
    dedup_key: str
    evidence_seqs: Sequence[int]
    first_seen: datetime
    last_seen: datetime


def open_or_update_many(
    *,
    session: Session,
    firings: Sequence[RuleFiring],
    runbooks_dir: Path | None = None,
    sla: SlaPolicy | None = None,
) -> list[bool]:
    """Apply `firings` (distinct dedup keys); True where an incident was opened."""
    if not firings:
        return []
    session.execute(text("UPDATE incident_counter SET value = value WHERE id = 1"))
    at = now()
    snoozed = session.scalar(
        select(Snooze.number).where(Snooze.released_at.is_(None), Snooze.until > at).limit(1)
    )
    keys = [f.dedup_key for f in firings]
    active: set[str] = set()
    for start in range(0, len(keys), _CHUNK):
        active.update(
            k
            for k in session.scalars(
                select(Incident.active_dedup_key).where(
                    Incident.active_dedup_key.in_(keys[start : start + _CHUNK])
                )
            )
            if k is not None
        )
    if runbooks_dir is None:
        from service.config import Settings

        runbooks_dir = Settings().runbooks_dir
    fresh = [f for f in firings if f.dedup_key not in active]
    _update_all(session=session, firings=[f for f in firings if f.dedup_key in active])
    if snoozed is not None or len(fresh) < 2:
        return [f.dedup_key not in active and _one(session, f, runbooks_dir, sla) for f in firings]
    _open_all(session=session, firings=fresh, runbooks_dir=runbooks_dir, sla=sla or SlaPolicy())
    return [f.dedup_key not in active for f in firings]


def _update_all(*, session: Session, firings: Sequence[RuleFiring]) -> None:
    """Extend the active incidents of `firings` with their new evidence, as
    `open_or_update_from_rule` does one by one (an `incident.evidence.add` record each)."""
    if not firings:
        return
    keys = [f.dedup_key for f in firings]
    number_of = {
        k: n
        for n, k in session.execute(
            select(Incident.number, Incident.active_dedup_key).where(
                Incident.active_dedup_key.in_(keys)
            )
        )
    }
    numbers = sorted(number_of.values())
    # Lock the rows first (see `service.lock`), then read them fresh.
    session.execute(
        update(Incident).where(Incident.number.in_(numbers)).values(version=Incident.version)
    )
    incidents = {
        i.number: i
        for i in session.scalars(
            select(Incident)
            .where(Incident.number.in_(numbers))
            .execution_options(populate_existing=True)
        )
    }
    every = evidence_mod.require_seqs(
        session=session, seqs=[s for f in firings for s in f.evidence_seqs]
    )
    linked: dict[int, set[int]] = {n: set() for n in numbers}
    for start in range(0, len(every), _CHUNK):
        for number, seq in session.execute(
            select(IncidentEvidence.incident_number, IncidentEvidence.seq).where(
                IncidentEvidence.incident_number.in_(numbers),
                IncidentEvidence.seq.in_(every[start : start + _CHUNK]),
            )
        ):
            linked[number].add(seq)
    added_of = {
        f.dedup_key: sorted(set(f.evidence_seqs) - linked[number_of[f.dedup_key]]) for f in firings
    }
    events = {
        e["seq"]: e
        for e in evidence_mod.records(
            session=session, seqs=sorted({s for a in added_of.values() for s in a})
        )
    }
    at = now()
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    evidence_rows: list[dict[str, Any]] = []
    prepared = []
    changed: list[tuple[Incident, Actor, dict[str, list[Any]], dict[str, Any]]] = []
    for f in firings:
        incident = incidents[number_of[f.dedup_key]]
        actor = Actor.rule(f.rule_id)
        added = added_of[f.dedup_key]
        before = snapshot(incident)
        evidence_rows += [
            {
                "incident_number": incident.number,
                "seq": s,
                "added_at": at,
                "added_by": actor.label(),
            }
            for s in added
        ]
        if added:
            entity_store.record(
                session=session, number=incident.number, events=[events[s] for s in added]
            )
        incident.event_count += len(added)
        if incident.first_seen is None or f.first_seen < incident.first_seen:
            incident.first_seen = f.first_seen
        if incident.last_seen is None or f.last_seen > incident.last_seen:
            incident.last_seen = f.last_seen
        changes = diff(before, snapshot(incident))
        if not changes:
            continue  # the same firing again (a replay after restart): nothing new
        incident.version += 1
        incident.updated_at = now()
        details = {"seqs": added, "rule_hash": f.rule_hash}
        prepared.append(
            prepare_internal(
                action="incident.evidence.add",
                actor={"type": actor.type, "id": actor.id},
                resource={"type": "incident", "id": incident.public_id},
                attributes={
                    "kind": "evidence",
                    "version": incident.version,
                    "actor_name": actor.name,
                    "changes": changes,
                    **details,
                },
                request_id=request_id,
            )
        )
        changed.append((incident, actor, changes, details))
    if evidence_rows:
        session.execute(insert(IncidentEvidence), evidence_rows)
    log_seqs = record_internal_many(session=session, events=prepared)
    for (incident, actor, changes, details), log_seq in zip(changed, log_seqs, strict=True):
        session.add(
            TimelineEntry(
                incident_number=incident.number,
                at=now(),
                actor_type=actor.type,
                actor_id=actor.id,
                actor_name=actor.name,
                kind="evidence",
                changes={k: {"from": v[0], "to": v[1]} for k, v in changes.items()},
                body=None,
                details=details,
                log_seq=log_seq,
            )
        )
        outbox.enqueue(session=session, incident=incident, kind="evidence", changes=changes)
        _announce(incident, kind="evidence", changes=changes, actor=actor)


def _one(session: Session, f: RuleFiring, runbooks_dir: Path, sla: SlaPolicy | None) -> bool:
    active = session.scalar(select(Incident.number).where(Incident.active_dedup_key == f.dedup_key))
    opened = open_or_update_from_rule(
        session=session,
        rule_id=f.rule_id,
        rule_hash=f.rule_hash,
        title=f.title,
        severity=f.severity,
        tags=list(f.tags),
        runbook_id=f.runbook_id,
        group=dict(f.group),
        dedup_key=f.dedup_key,
        evidence_seqs=list(f.evidence_seqs),
        first_seen=f.first_seen,
        last_seen=f.last_seen,
        runbooks_dir=runbooks_dir,
        sla=sla,
    )
    return active is None and opened is not None


def _open_all(
    *, session: Session, firings: Sequence[RuleFiring], runbooks_dir: Path, sla: SlaPolicy
) -> None:
    every = sorted({s for f in firings for s in f.evidence_seqs})
    evidence_mod.require_seqs(session=session, seqs=every)
    events = {e["seq"]: e for e in evidence_mod.records(session=session, seqs=every)}
    count = len(firings)
    last = session.execute(
        text("UPDATE incident_counter SET value = value + :n WHERE id = 1 RETURNING value"),
        {"n": count},
    ).scalar_one()
    first_number = int(last) - count + 1
    head_seq, _ = read_head(session)
    at = now()
    incidents: list[Incident] = []
    seqs_of: list[list[int]] = []
    for i, f in enumerate(firings):
        seqs = sorted(set(f.evidence_seqs))
        seqs_of.append(seqs)
        severity = Severity(f.severity)
        actor = Actor.rule(f.rule_id)
        incident = Incident(
            number=first_number + i,
            title=f.title,
            description="",
            severity=severity.value,
            severity_rank=severity.rank,
            status=Status.open.value,
            assignee=None,
            rule_id=f.rule_id,
            rule_hash=f.rule_hash,
            group=dict(f.group),
            tags=list(dict.fromkeys(f.tags)),
            dedup_key=f.dedup_key,
            active_dedup_key=f.dedup_key,
            first_seen=f.first_seen,
            last_seen=f.last_seen,
            event_count=len(seqs),
            opened_at=at,
            opened_by=actor.label(),
            updated_at=at,
            version=1,
            # The head before this incident's own open record, as one by one.
            anchor_seq=head_seq + i,
        )
        start_clocks(incident, sla)
        incidents.append(incident)
    session.add_all(incidents)
    session.flush()
    evidence_rows = [
        {"incident_number": inc.number, "seq": s, "added_at": at, "added_by": inc.opened_by}
        for inc, seqs in zip(incidents, seqs_of, strict=True)
        for s in seqs
    ]
    if evidence_rows:
        session.execute(insert(IncidentEvidence), evidence_rows)
    entity_rows = [
        {
            "incident_number": inc.number,
            "type": kind,
            "value": value,
            "count": n,
            "first_seen": first,
            "last_seen": last_at,
        }
        for inc, seqs in zip(incidents, seqs_of, strict=True)
        for (kind, value), (n, first, last_at) in entity_store.tally(
            events[s] for s in seqs
        ).items()
    ]
    if entity_rows:
        session.execute(insert(IncidentEntity), entity_rows)
    templates = _cached_templates(runbooks_dir)
    runbooks: list[dict[str, str] | None] = []
    for inc, seqs, f in zip(incidents, seqs_of, firings, strict=True):
        runbooks.append(_attach(session, inc, templates, f.runbook_id, [events[s] for s in seqs]))
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    prepared = [
        prepare_internal(
            action="incident.open",
            actor={"type": "rule", "id": str(inc.rule_id)},
            resource={"type": "incident", "id": inc.public_id},
            attributes={
                "kind": "open",
                "version": inc.version,
                "actor_name": inc.opened_by,
                "changes": {},
                "seqs": seqs,
                "runbook": runbook,
                "snapshot": snapshot(inc),
            },
            request_id=request_id,
        )
        for inc, seqs, runbook in zip(incidents, seqs_of, runbooks, strict=True)
    ]
    log_seqs = record_internal_many(session=session, events=prepared)
    timeline = []
    for inc, seqs, runbook, log_seq in zip(incidents, seqs_of, runbooks, log_seqs, strict=True):
        actor = Actor.rule(str(inc.rule_id))
        timeline.append(
            TimelineEntry(
                incident_number=inc.number,
                at=now(),
                actor_type=actor.type,
                actor_id=actor.id,
                actor_name=actor.name,
                kind="open",
                changes={},
                body=None,
                details={"seqs": seqs, "runbook": runbook},
                log_seq=log_seq,
            )
        )
        outbox.enqueue(session=session, incident=inc, kind="open", changes={})
        _announce(inc, kind="open", changes={}, actor=actor)
    session.add_all(timeline)


def _attach(
    session: Session,
    incident: Incident,
    templates: Sequence[Any],
    explicit_id: str | None,
    evidence: list[dict[str, Any]],
) -> dict[str, str] | None:
    try:
        template = select_runbook(
            templates,
            explicit_id=explicit_id,
            rule_id=incident.rule_id,
            tags=incident.tags,
            severity=incident.severity,
        )
    except NoRunbookFound:
        log.warning("runbooks.none_attached", incident=incident.public_id)
        return None
    session.add(
        RunbookInstance(
            incident_number=incident.number,
            runbook_id=template.id,
            content_hash=template.content_hash,
            attached_at=now(),
            instance=render_for(
                session=session, incident=incident, template=template, evidence=evidence
            ),
        )
    )
    return {"runbook_id": template.id, "content_hash": template.content_hash}


def _cached_templates(directory: Path) -> list[Any]:
    cached = _templates.get(directory)
    if cached is None or time.monotonic() - cached[0] > TEMPLATES_TTL:
        cached = _templates[directory] = (time.monotonic(), library.templates(directory))
    return cached[1]
