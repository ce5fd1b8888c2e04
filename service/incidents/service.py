"""Opening incidents, by hand or from a rule firing, and finding them again.

See the package docstring for the `open_or_update_from_rule` contract the correlation
engine relies on. Functions here never commit: the request or worker owns the commit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from service.auditlog.chain import read_head
from service.incidents import evidence as evidence_mod
from service.incidents.custody import Actor, diff, now, record_change, record_update, snapshot
from service.incidents.errors import IncidentNotFound
from service.incidents.models import Incident
from service.incidents.schemas import Severity, Status
from service.incidents.sla import SlaPolicy, start_clocks
from service.runbooks import instances, library
from service.runbooks.schemas import RunbookTemplate
from service.snoozes import service as snoozes

_ID = re.compile(r"^(?:INC-)?([1-9][0-9]{0,17})$", re.IGNORECASE)


def parse_id(incident_id: str) -> int:
    match = _ID.match(incident_id.strip())
    if match is None:
        raise IncidentNotFound(f"No incident {incident_id!r} (ids look like INC-7)")
    return int(match.group(1))


def get(*, session: Session, incident_id: str) -> Incident:
    incident = session.get(Incident, parse_id(incident_id))
    if incident is None:
        raise IncidentNotFound(f"No incident {incident_id}")
    return incident


def lock(*, session: Session, incident_id: str) -> Incident:
    """Lock the incident row for the rest of the transaction and return it fresh.

    The no-op UPDATE comes first so SQLite takes its write lock before reading (a read
    snapshot could not be upgraded once another writer committed) and PostgreSQL makes
    concurrent writers of this incident queue, then re-read the committed row.
    """
    number = parse_id(incident_id)
    found = session.execute(
        update(Incident).where(Incident.number == number).values(version=Incident.version)
    )
    if found.rowcount == 0:  # type: ignore[attr-defined]
        raise IncidentNotFound(f"No incident {incident_id}")
    incident = session.get(Incident, number, populate_existing=True)
    assert incident is not None
    return incident


def _lock_counter(session: Session) -> None:
    session.execute(text("UPDATE incident_counter SET value = value WHERE id = 1"))


def _next_number(session: Session) -> int:
    row = session.execute(
        text("UPDATE incident_counter SET value = value + 1 WHERE id = 1 RETURNING value")
    ).one()
    return int(row.value)


def open_incident(
    *,
    session: Session,
    actor: Actor,
    title: str,
    severity: Severity | str,
    templates: Sequence[RunbookTemplate],
    description: str = "",
    assignee: str | None = None,
    tags: Sequence[str] = (),
    evidence_seqs: Sequence[int] = (),
    runbook_id: str | None = None,
    rule_id: str | None = None,
    rule_hash: str | None = None,
    group: dict[str, Any] | None = None,
    dedup_key: str | None = None,
    first_seen: datetime | None = None,
    last_seen: datetime | None = None,
    sla: SlaPolicy | None = None,
) -> Incident:
    """Open `INC-N` with its evidence and runbook; one `incident.open` log record."""
    _lock_counter(session)  # first statement: a write, see `lock`
    seqs = evidence_mod.require_seqs(session=session, seqs=evidence_seqs)
    number = _next_number(session)
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
    start_clocks(incident, sla or SlaPolicy())
    session.add(incident)
    session.flush()  # evidence and runbook rows reference the incident
    evidence_mod.link(session=session, incident=incident, seqs=seqs, by=actor.label())
    session.flush()  # the runbook renders the evidence just linked
    instance = instances.attach(
        session=session, incident=incident, templates=templates, explicit_id=runbook_id
    )
    runbook = (
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
        details={"seqs": seqs, "runbook": runbook},
        attributes={"snapshot": snapshot(incident)},
    )
    return incident


def open_or_update_from_rule(
    *,
    session: Session,
    rule_id: str,
    rule_hash: str,
    title: str,
    severity: Severity | str,
    tags: Sequence[str],
    runbook_id: str | None,
    group: dict[str, Any],
    dedup_key: str,
    evidence_seqs: Sequence[int],
    first_seen: datetime,
    last_seen: datetime,
    runbooks_dir: Path | None = None,
    sla: SlaPolicy | None = None,
) -> Incident | None:
    """Open an incident for a firing, or extend the active one with the same dedup key.

    None: no incident was open for it and an active snooze silenced it (counted there)."""
    _lock_counter(session)  # serializes racing workers: the loser sees the winner's row
    existing = session.scalars(
        select(Incident).where(Incident.active_dedup_key == dedup_key)
    ).first()
    actor = Actor.rule(rule_id)
    if existing is None:
        silenced = snoozes.suppress(
            session=session, rule_id=rule_id, group=group, evidence_seqs=evidence_seqs, now=now()
        )
        if silenced is not None:
            return None
        if runbooks_dir is None:
            from service.config import Settings

            runbooks_dir = Settings().runbooks_dir
        return open_incident(
            session=session,
            actor=actor,
            title=title,
            severity=severity,
            templates=library.templates(runbooks_dir),
            tags=tags,
            evidence_seqs=evidence_seqs,
            runbook_id=runbook_id,
            rule_id=rule_id,
            rule_hash=rule_hash,
            group=group,
            dedup_key=dedup_key,
            first_seen=first_seen,
            last_seen=last_seen,
            sla=sla,
        )
    incident = lock(session=session, incident_id=existing.public_id)
    seqs = evidence_mod.require_seqs(session=session, seqs=evidence_seqs)
    before = snapshot(incident)
    added = evidence_mod.link(session=session, incident=incident, seqs=seqs, by=actor.label())
    incident.event_count += len(added)
    if incident.first_seen is None or first_seen < incident.first_seen:
        incident.first_seen = first_seen
    if incident.last_seen is None or last_seen > incident.last_seen:
        incident.last_seen = last_seen
    changes = diff(before, snapshot(incident))
    if not changes:
        return incident  # the same firing again (a replay after restart): nothing new
    record_update(
        session=session,
        incident=incident,
        actor=actor,
        action="incident.evidence.add",
        kind="evidence",
        changes=changes,
        details={"seqs": added, "rule_hash": rule_hash},
    )
    return incident
