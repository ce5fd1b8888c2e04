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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auditlog.chain import read_head
from service.config import Settings
from service.incidents import evidence as evidence_mod
from service.incidents import runbook
from service.incidents.custody import Actor, diff, now, record_change, record_update, snapshot
from service.incidents.models import Incident
from service.incidents.schemas import Severity, Status
from service.incidents.service import lock, lock_counter, next_number
from service.incidents.sla import SlaPolicy, policy_of, start_clocks
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
    """Open `INC-N` with its evidence, entities and runbook; one `incident.open` record."""
    lock_counter(session)  # first statement: a write, see service.lock
    seqs = evidence_mod.require_seqs(session=session, seqs=evidence_seqs)
    number = next_number(session)
    at = now()
    head_seq, _ = read_head(session)
    incident = Incident(
        number=number,
        title=title,
        description=description,
        severity=Severity(severity).value,
        severity_rank=Severity(severity).rank,
        status=Status.open.value,
        assignee=assignee,
        rule_id=rule_id,
        rule_hash=rule_hash,
        group=dict(group or {}),
        tags=list(dict.fromkeys(tags)),
        category=category,
        tlp=tlp,
        dedup_key=dedup_key,
        active_dedup_key=dedup_key,
        first_seen=first_seen,
        last_seen=last_seen,
        event_count=len(seqs),
        opened_at=at,
        opened_by=actor.label(),
        updated_at=at,
        version=1,
        anchor_seq=head_seq,
    )
    start_clocks(incident, policy.sla)
    session.add(incident)
    session.flush()  # evidence and runbook rows reference the incident
    evidence_mod.link(session=session, incident=incident, seqs=seqs, by=actor.label())
    session.flush()  # the runbook renders the evidence just linked
    instance = runbook.attach(
        session=session, incident=incident, templates=policy.templates(), explicit_id=runbook_id
    )
    attached = (
        {"runbook_id": instance.runbook_id, "content_hash": instance.content_hash}
        if instance
        else None
    )
    record_change(
        session=session,
        incident=incident,
        actor=actor,
        action="incident.open",
        kind="open",
        details={"seqs": seqs, "runbook": attached},
        attributes={"snapshot": snapshot(incident)},
    )
    return incident


def apply_firing(*, session: Session, firing: Firing, policy: Policy) -> Outcome:
    """Open an incident for a firing, or extend the active one with its dedup key.

    While an incident with the same dedup key is active (not resolved, closed,
    false_positive or duplicate) the firing adds its evidence seqs, bumps `event_count`
    and widens first/last seen; replaying the same firing changes nothing. Racing
    workers serialize on the counter row (the loser sees the winner's incident), and a
    unique index on `incidents.active_dedup_key` guards the invariant in the database.
    """
    lock_counter(session)
    existing = session.scalars(
        select(Incident).where(Incident.active_dedup_key == firing.dedup_key)
    ).first()
    actor = Actor.rule(firing.rule_id)
    if existing is None:
        silenced = snoozes.suppress(
            session=session,
            rule_id=firing.rule_id,
            group=dict(firing.group),
            evidence_seqs=list(firing.evidence),
            now=now(),
        )
        if silenced is not None:
            return Outcome.silenced
        open_incident(
            session=session,
            actor=actor,
            title=firing.title,
            severity=str(firing.severity),
            policy=policy,
            tags=list(firing.tags),
            category=firing.category,
            evidence_seqs=list(firing.evidence),
            runbook_id=firing.runbook,
            rule_id=firing.rule_id,
            rule_hash=firing.rule_hash,
            group=dict(firing.group),
            dedup_key=firing.dedup_key,
            first_seen=firing.first_seen,
            last_seen=firing.last_seen,
        )
        return Outcome.opened
    return _extend(session=session, incident=existing, firing=firing, actor=actor)


def _extend(*, session: Session, incident: Incident, firing: Firing, actor: Actor) -> Outcome:
    incident = lock(session=session, incident_id=incident.public_id)
    seqs = evidence_mod.require_seqs(session=session, seqs=firing.evidence)
    before = snapshot(incident)
    added = evidence_mod.link(session=session, incident=incident, seqs=seqs, by=actor.label())
    incident.event_count += len(added)
    if incident.first_seen is None or firing.first_seen < incident.first_seen:
        incident.first_seen = firing.first_seen
    if incident.last_seen is None or firing.last_seen > incident.last_seen:
        incident.last_seen = firing.last_seen
    changes = diff(before, snapshot(incident))
    if not changes:
        return Outcome.unchanged
    record_update(
        session=session,
        incident=incident,
        actor=actor,
        action="incident.evidence.add",
        kind="evidence",
        changes=changes,
        details={"seqs": added, "rule_hash": firing.rule_hash},
    )
    return Outcome.extended
