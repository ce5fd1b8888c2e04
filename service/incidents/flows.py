"""From a firing or a responder's request to an incident, in one place.

Opening an incident touches several domains in one transaction: the incident row and
its number, the evidence links (which also record the entities of each event), the
runbook instance rendered from the template library, the chained `incident.open`
record (which also writes the notification outbox row), and, for rule firings, the
dedup key and any snooze. This module is that sequence; the pieces it calls know
nothing of each other. The runbooks package stays a template library: it is handed
the templates and never imports incidents.

Settings come in as a `Policy`, built once by whoever runs the flow (the API from its
settings dependency, the rules runner at start-up), never read from the environment
here. Nothing here commits: the request or the worker owns the transaction.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from service.auditlog.chain import read_head
from service.config import Settings
from service.db import insert_rows
from service.incidents import entity_store, runbook
from service.incidents import evidence as evidence_mod
from service.incidents.custody import (
    Actor,
    Change,
    diff,
    now,
    record_changes,
    snapshot,
)
from service.incidents.draft import IncidentDraft
from service.incidents.models import Incident, RunbookInstance
from service.incidents.schemas import Severity, Status
from service.incidents.service import lock_counter
from service.incidents.sla import SlaPolicy, policy_of, start_clocks
from service.rules.merge import merge_firings
from service.rules.model import Firing
from service.runbooks import library
from service.runbooks.schemas import RunbookTemplate
from service.snoozes import service as snoozes


@dataclass(frozen=True)
class Policy:
    """What an opening needs from configuration."""

    runbooks_dir: Path
    sla: SlaPolicy

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        return cls(runbooks_dir=settings.runbooks_dir, sla=policy_of(settings))

    def templates(self) -> list[RunbookTemplate]:
        return library.templates(self.runbooks_dir)


class Outcome(enum.StrEnum):
    """What a firing did: the runner counts openings, snoozes count silenced ones."""

    opened = "opened"
    extended = "extended"
    unchanged = "unchanged"  # the same firing again (a replay after a restart)
    silenced = "silenced"  # no incident was active and a snooze matched


@dataclass(frozen=True)
class Opening:
    """What a new incident is made of (validated evidence seqs, sorted)."""

    actor: Actor
    title: str
    severity: str
    seqs: list[int]
    description: str = ""
    assignee: str | None = None
    tags: Sequence[str] = ()
    category: str | None = None
    tlp: str = "TLP:AMBER"
    runbook_id: str | None = None
    rule_id: str | None = None
    rule_hash: str | None = None
    group: dict[str, Any] = field(default_factory=dict)
    dedup_key: str | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None


def open_incident(
    *,
    session: Session,
    actor: Actor,
    title: str,
    severity: Severity | str,
    policy: Policy,
    description: str = "",
    assignee: str | None = None,
    tags: Sequence[str] = (),
    category: str | None = None,
    tlp: str = "TLP:AMBER",
    evidence_seqs: Sequence[int] = (),
    runbook_id: str | None = None,
    rule_id: str | None = None,
    rule_hash: str | None = None,
    group: dict[str, Any] | None = None,
    dedup_key: str | None = None,
    first_seen: datetime | None = None,
    last_seen: datetime | None = None,
) -> Incident:
    """Open one `INC-N` (see `open_many`)."""
    lock_counter(session)  # first statement: a write, see service.lock
    opening = Opening(
        actor=actor,
        title=title,
        severity=Severity(severity).value,
        seqs=evidence_mod.require_seqs(session=session, seqs=evidence_seqs),
        description=description,
        assignee=assignee,
        tags=tags,
        category=category,
        tlp=tlp,
        runbook_id=runbook_id,
        rule_id=rule_id,
        rule_hash=rule_hash,
        group=dict(group or {}),
        dedup_key=dedup_key,
        first_seen=first_seen,
        last_seen=last_seen,
    )
    (number,) = open_many(session=session, openings=[opening], policy=policy)
    incident = session.get(Incident, number)
    assert incident is not None
    return incident


def open_many(*, session: Session, openings: Sequence[Opening], policy: Policy) -> list[int]:
    """Open one incident per opening, with its evidence, entities and runbook, and one
    `incident.open` record each, in statements per batch rather than per incident.

    The caller holds the counter lock (`lock_counter`) and has validated the seqs.
    """
    if not openings:
        return []
    last = session.execute(_ALLOCATE, {"n": len(openings)}).scalar_one()
    at = now()
    head_seq, _ = read_head(session)
    drafts = []
    for number, o in enumerate(openings, start=int(last) - len(openings) + 1):
        draft = IncidentDraft(
            number=number,
            title=o.title,
            description=o.description,
            severity=o.severity,
            severity_rank=Severity(o.severity).rank,
            status=Status.open.value,
            assignee=o.assignee,
            rule_id=o.rule_id,
            rule_hash=o.rule_hash,
            group=dict(o.group),
            tags=list(dict.fromkeys(o.tags)),
            category=o.category,
            tlp=o.tlp,
            dedup_key=o.dedup_key,
            active_dedup_key=o.dedup_key,
            first_seen=o.first_seen,
            last_seen=o.last_seen,
            event_count=len(o.seqs),
            opened_at=at,
            opened_by=o.actor.label(),
            updated_at=at,
            version=1,
            anchor_seq=head_seq,
        )
        start_clocks(draft, policy.sla)
        drafts.append(draft)
    pairs = list(zip(drafts, openings, strict=True))
    insert_rows(session, Incident, [d.row() for d in drafts])
    evidence_mod.link_new(
        session=session,
        seqs_by_number={d.number: o.seqs for d, o in pairs},
        by={d.number: o.actor.label() for d, o in pairs},
        at=at,
    )
    # The events are read once for the whole batch: entities and runbooks use them.
    events = {
        e["seq"]: e
        for e in evidence_mod.records(session=session, seqs=[s for o in openings for s in o.seqs])
    }
    entity_store.record_new(
        session=session,
        events_by_number={d.number: [events[s] for s in o.seqs] for d, o in pairs},
    )
    templates = policy.templates()
    runbooks = []
    changes = []
    for draft, o in pairs:
        row = runbook.instance_row(
            session=session,
            incident=draft,
            templates=templates,
            explicit_id=o.runbook_id,
            evidence=[events[s] for s in o.seqs[: runbook.RENDER_EVIDENCE]],
        )
        if row is not None:
            runbooks.append(row)
        attached = (
            {"runbook_id": row["runbook_id"], "content_hash": row["content_hash"]} if row else None
        )
        changes.append(
            Change(
                incident=draft,
                actor=o.actor,
                action="incident.open",
                kind="open",
                details={"seqs": o.seqs, "runbook": attached},
                attributes={"snapshot": snapshot(draft)},
            )
        )
    if runbooks:
        insert_rows(session, RunbookInstance, runbooks)
    record_changes(session=session, changes=changes)
    return [d.number for d in drafts]


_ALLOCATE = text("UPDATE incident_counter SET value = value + :n WHERE id = 1 RETURNING value")


def apply_firings(
    *, session: Session, firings: Sequence[Firing], policy: Policy
) -> list[tuple[Firing, Outcome]]:
    """Open an incident for each firing, or extend the active one with its dedup key.

    Firings sharing a dedup key are merged first (`merge_firings`). While an incident
    with the same dedup key is active (not resolved, closed, false_positive or duplicate)
    the firing adds its evidence seqs, bumps `event_count` and widens first/last seen;
    replaying the same firing changes nothing. Racing workers serialize on the counter
    row (the loser sees the winner's incidents), and a unique index on
    `incidents.active_dedup_key` guards the invariant in the database. New incidents
    are opened together (`open_many`).
    """
    merged = merge_firings(firings)
    if not merged:
        return []
    lock_counter(session)
    active = _active_by_key(session, [f.dedup_key for f in merged])
    at = now()
    snoozed = snoozes.active_by_rule(session=session, now=at)
    # Every seq must be in the log (UnknownEvidence otherwise): one check for the batch.
    evidence_mod.require_seqs(session=session, seqs=[s for f in merged for s in f.evidence])
    outcomes: list[tuple[Firing, Outcome]] = []
    openings: list[Opening] = []
    extending = [(active[f.dedup_key], f) for f in merged if f.dedup_key in active]
    outcome_of = _extend_many(session, extending)
    extended = dict(zip([f.dedup_key for _, f in extending], outcome_of, strict=True))
    for firing in merged:
        actor = Actor.rule(firing.rule_id)
        if firing.dedup_key in extended:
            outcomes.append((firing, extended[firing.dedup_key]))
            continue
        silenced = snoozes.suppress(
            session=session,
            rule_id=firing.rule_id,
            group=dict(firing.group),
            evidence_seqs=list(firing.evidence),
            now=at,
            active=snoozed.get(firing.rule_id, ()),
        )
        if silenced is not None:
            outcomes.append((firing, Outcome.silenced))
            continue
        openings.append(
            Opening(
                actor=actor,
                title=firing.title,
                severity=Severity(str(firing.severity)).value,
                seqs=sorted(set(firing.evidence)),
                tags=list(firing.tags),
                category=firing.category,
                runbook_id=firing.runbook,
                rule_id=firing.rule_id,
                rule_hash=firing.rule_hash,
                group=dict(firing.group),
                dedup_key=firing.dedup_key,
                first_seen=firing.first_seen,
                last_seen=firing.last_seen,
            )
        )
        outcomes.append((firing, Outcome.opened))
    open_many(session=session, openings=openings, policy=policy)
    return outcomes


def _active_by_key(session: Session, keys: list[str]) -> dict[str, Incident]:
    found: dict[str, Incident] = {}
    for start in range(0, len(keys), 500):
        for incident in session.scalars(
            select(Incident).where(Incident.active_dedup_key.in_(keys[start : start + 500]))
        ):
            assert incident.active_dedup_key is not None
            found[incident.active_dedup_key] = incident
    return found


def _extend_many(session: Session, pairs: Sequence[tuple[Incident, Firing]]) -> list[Outcome]:
    """Add each firing's evidence to its active incident and widen first/last seen: the
    incidents are locked and re-read together (the no-op UPDATE of `service.lock`, for
    all of them), evidence and entities written in statements per batch, and one
    `incident.evidence.add` record for each incident that changed."""
    if not pairs:
        return []
    numbers = sorted({incident.number for incident, _ in pairs})
    session.execute(
        update(Incident).where(Incident.number.in_(numbers)).values(version=Incident.version)
    )
    fresh = {
        i.number: i
        for i in session.scalars(
            select(Incident)
            .where(Incident.number.in_(numbers))
            .execution_options(populate_existing=True)
        )
    }
    incidents = [fresh[incident.number] for incident, _ in pairs]
    before = [snapshot(incident) for incident in incidents]
    added = evidence_mod.link_many(
        session=session,
        seqs_by_number={i.number: f.evidence for i, (_, f) in zip(incidents, pairs, strict=True)},
        by={
            i.number: Actor.rule(f.rule_id).label()
            for i, (_, f) in zip(incidents, pairs, strict=True)
        },
    )
    at = now()
    outcomes = []
    changes = []
    for incident, (_, firing), was in zip(incidents, pairs, before, strict=True):
        incident.event_count += len(added[incident.number])
        if incident.first_seen is None or firing.first_seen < incident.first_seen:
            incident.first_seen = firing.first_seen
        if incident.last_seen is None or firing.last_seen > incident.last_seen:
            incident.last_seen = firing.last_seen
        diffs = diff(was, snapshot(incident))
        if not diffs:
            outcomes.append(Outcome.unchanged)
            continue
        incident.version += 1  # as record_update does: the ETag moves
        incident.updated_at = at
        changes.append(
            Change(
                incident=incident,
                actor=Actor.rule(firing.rule_id),
                action="incident.evidence.add",
                kind="evidence",
                changes=diffs,
                details={"seqs": added[incident.number], "rule_hash": firing.rule_hash},
            )
        )
        outcomes.append(Outcome.extended)
    session.flush()
    record_changes(session=session, changes=changes)
    return outcomes
