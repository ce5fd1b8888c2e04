"""Recording and closing improvement items; each is a change in its incident's history."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.errors import Conflict, NotFound
from service.improvements.models import Improvement
from service.improvements.schemas import ImprovementClose, ImprovementCreate, Status
from service.incidents import service as incidents
from service.incidents.custody import Actor, now, record_update

_ID = re.compile(r"^(?:IMP-)?([1-9][0-9]{0,9})$", re.IGNORECASE)


class ImprovementNotFound(NotFound):
    title = "Improvement not found"


class AlreadyClosed(Conflict):
    title = "Improvement already closed"


def record(
    *, session: Session, incident_id: str, spec: ImprovementCreate, actor: Actor
) -> Improvement:
    incident = incidents.lock(session=session, incident_id=incident_id)
    item = Improvement(
        incident_number=incident.number,
        kind=spec.kind.value,
        title=spec.title,
        detail=spec.detail,
        status=Status.open.value,
        created_at=now(),
        created_by=actor.label(),
    )
    session.add(item)
    session.flush()
    record_update(
        session=session,
        incident=incident,
        actor=actor,
        action="incident.improvement",
        kind="improvement",
        body=spec.title,
        details={"improvement": item.public_id, "kind": item.kind, "status": item.status},
        attributes={"detail": spec.detail},
    )
    return item


def get(*, session: Session, improvement_id: str) -> Improvement:
    match = _ID.match(improvement_id.strip())
    item = session.get(Improvement, int(match.group(1))) if match else None
    if item is None:
        raise ImprovementNotFound(f"No improvement {improvement_id!r} (ids look like IMP-3)")
    return item


def close(
    *, session: Session, improvement_id: str, spec: ImprovementClose, actor: Actor
) -> Improvement:
    number = get(session=session, improvement_id=improvement_id).incident_number
    incident = incidents.lock(session=session, incident_id=f"INC-{number}")
    item = get(session=session, improvement_id=improvement_id)
    session.refresh(item)
    if item.status != Status.open.value:
        raise AlreadyClosed(
            f"{item.public_id} is already {item.status}",
            errors=[{"field": "status", "message": f"already {item.status}"}],
        )
    item.status, item.closed_at = spec.status.value, now()
    item.closed_by, item.close_note = actor.label(), spec.note
    record_update(
        session=session,
        incident=incident,
        actor=actor,
        action="incident.improvement",
        kind="improvement",
        body=spec.note,
        details={"improvement": item.public_id, "kind": item.kind, "status": item.status},
    )
    return item


def page(
    *,
    session: Session,
    status: Status | None,
    incident_id: str | None,
    after: int,
    limit: int,
) -> tuple[list[Improvement], str | None]:
    query = select(Improvement).where(Improvement.number > after).order_by(Improvement.number)
    if status is not None:
        query = query.where(Improvement.status == status.value)
    if incident_id is not None:
        query = query.where(Improvement.incident_number == incidents.parse_id(incident_id))
    rows = list(session.scalars(query.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, str(rows[-1].number) if more else None


def of_incident(*, session: Session, number: int) -> list[Improvement]:
    query = select(Improvement).where(Improvement.incident_number == number)
    return list(session.scalars(query.order_by(Improvement.number)))
