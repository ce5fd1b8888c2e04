"""Relating incidents by hand: link two incidents, or merge one into another.

Merging keeps both histories: the merged incident becomes a `duplicate` of the target
(its timeline and log records stay), its evidence and entities are added to the target,
and both timelines and the log record the merge.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.incidents import evidence as evidence_mod
from service.incidents.custody import Actor, diff, now, record_change, record_update, snapshot
from service.incidents.errors import InvalidChange
from service.incidents.models import Incident, IncidentLink
from service.incidents.schemas import Status
from service.incidents.service import lock, parse_id
from service.incidents.transitions import check_transition


def _pair(*, session: Session, first: str, second: str, field: str) -> tuple[Incident, Incident]:
    a, b = parse_id(first), parse_id(second)
    if a == b:
        raise InvalidChange(
            "an incident cannot be linked to or merged into itself",
            errors=[{"field": field, "message": "names the same incident"}],
        )
    # Always lock the lower number first: two responders linking A-B and B-A cannot deadlock.
    low, high = sorted((a, b))
    locked = {n: lock(session=session, incident_id=f"INC-{n}") for n in (low, high)}
    return locked[a], locked[b]


def _add_link(session: Session, one: Incident, other: Incident, kind: str, by: str) -> bool:
    existing = session.get(IncidentLink, (one.number, other.number))
    if existing is not None and existing.kind == kind:
        return False
    if existing is None:
        session.add(
            IncidentLink(
                incident_number=one.number,
                other_number=other.number,
                kind=kind,
                created_at=now(),
                created_by=by,
            )
        )
    else:
        existing.kind = kind
    return True


def link(*, session: Session, incident_id: str, other_id: str, actor: Actor) -> Incident:
    """Mark two incidents as related (idempotent); each timeline names the other."""
    incident, other = _pair(session=session, first=incident_id, second=other_id, field="incident")
    for one, two in ((incident, other), (other, incident)):
        if _add_link(session, one, two, "related", actor.label()):
            record_change(
                session=session,
                incident=one,
                actor=actor,
                action="incident.link",
                kind="link",
                details={"incident": two.public_id},
            )
    return incident


def merge(*, session: Session, incident_id: str, into_id: str, actor: Actor) -> Incident:
    """Merge `incident_id` into `into_id`; returns the target."""
    source, target = _pair(session=session, first=incident_id, second=into_id, field="into")
    check_transition(Status(source.status), Status.duplicate)
    if Status(target.status) in (Status.closed, Status.false_positive, Status.duplicate):
        raise InvalidChange(
            f"{target.public_id} is {target.status}: merge into an incident still being worked",
            errors=[{"field": "into", "message": f"{target.public_id} is {target.status}"}],
        )
    seqs = sorted(evidence_mod.linked_seqs(session=session, number=source.number))
    before_target = snapshot(target)
    added = evidence_mod.link(session=session, incident=target, seqs=seqs, by=actor.label())
    target.event_count += len(added)
    for bound in ("first_seen", "last_seen"):
        mine, theirs = getattr(target, bound), getattr(source, bound)
        if theirs is not None and (
            mine is None or (theirs < mine if bound == "first_seen" else theirs > mine)
        ):
            setattr(target, bound, theirs)
    before_source = snapshot(source)
    source.status = Status.duplicate.value
    source.duplicate_of = target.number
    source.active_dedup_key = None
    _add_link(session, source, target, "merged_into", actor.label())
    _add_link(session, target, source, "merged_from", actor.label())
    record_update(
        session=session,
        incident=source,
        actor=actor,
        action="incident.merge",
        kind="merge",
        changes=diff(before_source, snapshot(source)),
        details={"into": target.public_id},
    )
    record_update(
        session=session,
        incident=target,
        actor=actor,
        action="incident.merge",
        kind="merge",
        changes=diff(before_target, snapshot(target)),
        details={"from": source.public_id, "seqs": added},
    )
    return target


def links_of(*, session: Session, number: int) -> list[IncidentLink]:
    return list(session.scalars(select(IncidentLink).where(IncidentLink.incident_number == number)))
