"""Responder changes to an incident: PATCH fields and status, comments, evidence."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.incidents import evidence as evidence_mod
from service.incidents import runbook
from service.incidents.custody import Actor, diff, now, record_change, record_update, snapshot
from service.incidents.errors import (
    IncidentNotFound,
    InvalidChange,
    InvalidDuplicate,
    PreconditionFailed,
    ResolveBlocked,
)
from service.incidents.models import Incident, TimelineEntry
from service.incidents.schemas import IncidentPatch, Severity, Status
from service.incidents.service import get, lock
from service.incidents.sla import SlaPolicy, change_severity, set_waiting
from service.incidents.transitions import ACTIVE, check_transition


def check_version(incident: Incident, expected: int | None) -> None:
    if expected is not None and incident.version != expected:
        raise PreconditionFailed(
            f"{incident.public_id} changed since you read it (version {expected}, now "
            f"{incident.version}); fetch it again and retry",
            current_version=incident.version,
        )


def update_incident(
    *,
    session: Session,
    incident_id: str,
    patch: IncidentPatch,
    if_match: int | None,
    actor: Actor,
    sla: SlaPolicy | None = None,
) -> Incident:
    """Apply `patch` if the incident is still at version `if_match` (None: any), else 412."""
    incident = lock(session=session, incident_id=incident_id)
    check_version(incident, if_match)
    before = snapshot(incident)
    fields = patch.model_fields_set
    if "duplicate_of" in fields and patch.status is not Status.duplicate:
        raise InvalidChange(
            "duplicate_of is set together with status duplicate",
            errors=[{"field": "duplicate_of", "message": "needs status: duplicate"}],
        )
    if patch.status is not None and patch.status.value != incident.status:
        _transition(session=session, incident=incident, target=patch.status, patch=patch)
    if patch.severity is not None and patch.severity.value != incident.severity:
        old = incident.severity
        incident.severity = patch.severity.value
        incident.severity_rank = Severity(patch.severity).rank
        change_severity(incident, old, sla or SlaPolicy())
    if "waiting" in fields:
        # Pausing and resuming are timeline entries: waiting_reason and the moved due
        # times appear in the recorded changes.
        set_waiting(incident, patch.waiting, now())
    if "assignee" in fields:
        incident.assignee = patch.assignee
    for name in ("title", "description"):
        value = getattr(patch, name)
        if value is not None:
            setattr(incident, name, value)
    if patch.tags is not None:
        incident.tags = list(dict.fromkeys(patch.tags))
    if patch.category is not None:
        incident.category = patch.category.value
    if patch.tlp is not None:
        incident.tlp = patch.tlp.value
    changes = diff(before, snapshot(incident))
    if not changes:
        return incident
    record_update(
        session=session,
        incident=incident,
        actor=actor,
        action="incident.update",
        kind="update",
        changes=changes,
    )
    return incident


def _transition(
    *, session: Session, incident: Incident, target: Status, patch: IncidentPatch
) -> None:
    current = Status(incident.status)
    check_transition(current, target)
    if target is Status.duplicate:
        incident.duplicate_of = _duplicate_target(
            session=session, incident=incident, ref=patch.duplicate_of
        )
    if target is Status.resolved:
        open_steps = runbook.required_open(session=session, number=incident.number)
        if open_steps:
            raise ResolveBlocked(
                f"{incident.public_id} cannot be resolved while required runbook steps are "
                f"open: {', '.join(open_steps)}",
                open_steps=open_steps,
            )
    at = now()
    if current is Status.open and incident.acknowledged_at is None:
        incident.acknowledged_at = at  # time to acknowledge: first responder action
    if target is Status.contained and incident.contained_at is None:
        incident.contained_at = at
    if target is Status.resolved:
        incident.resolved_at = at
    if current is Status.resolved and target is Status.acknowledged:
        incident.resolved_at = None  # reopened: it is no longer resolved
    incident.status = target.value
    _update_dedup_guard(session=session, incident=incident)


def _update_dedup_guard(*, session: Session, incident: Incident) -> None:
    """Keep `active_dedup_key` set exactly while the incident takes new firings."""
    if Status(incident.status) not in ACTIVE or incident.dedup_key is None:
        incident.active_dedup_key = None
        return
    if incident.active_dedup_key is not None:
        return
    # Reopened: resume taking firings unless a newer incident took over the key.
    taken = session.scalars(
        select(Incident.number).where(Incident.active_dedup_key == incident.dedup_key)
    ).first()
    if taken is None:
        incident.active_dedup_key = incident.dedup_key


def _duplicate_target(*, session: Session, incident: Incident, ref: str | None) -> int:
    def refuse(message: str) -> InvalidDuplicate:
        return InvalidDuplicate(message, errors=[{"field": "duplicate_of", "message": message}])

    if not ref:
        raise refuse("status duplicate needs duplicate_of: the incident this one duplicates")
    try:
        target = get(session=session, incident_id=ref)
    except IncidentNotFound:
        raise refuse(f"no incident {ref!r}") from None
    if target.number == incident.number:
        raise refuse("an incident cannot be a duplicate of itself")
    seen = {incident.number}
    cursor: Incident | None = target
    while cursor is not None and cursor.duplicate_of is not None:
        if cursor.duplicate_of in seen:
            raise refuse(f"{target.public_id} is already a duplicate of {incident.public_id}")
        seen.add(cursor.number)
        cursor = session.get(Incident, cursor.duplicate_of)
    return target.number


def add_comment(*, session: Session, incident_id: str, body: str, actor: Actor) -> TimelineEntry:
    incident = lock(session=session, incident_id=incident_id)
    entry_id = record_change(
        session=session,
        incident=incident,
        actor=actor,
        action="incident.comment",
        kind="comment",
        body=body,
    )
    entry = session.get(TimelineEntry, entry_id)
    assert entry is not None
    return entry


def add_evidence(
    *, session: Session, incident_id: str, seqs: Sequence[int], actor: Actor
) -> tuple[Incident, list[int], list[int]]:
    """Link `seqs` (all must exist, else 422); returns (incident, added, already linked)."""
    incident = lock(session=session, incident_id=incident_id)
    valid = evidence_mod.require_seqs(session=session, seqs=seqs)
    before = snapshot(incident)
    added = evidence_mod.link(session=session, incident=incident, seqs=valid, by=actor.label())
    already = sorted(set(valid) - set(added))
    if not added:
        return incident, added, already
    incident.event_count += len(added)
    record_update(
        session=session,
        incident=incident,
        actor=actor,
        action="incident.evidence.add",
        kind="evidence",
        changes=diff(before, snapshot(incident)),
        details={"seqs": added},
    )
    return incident, added, already
