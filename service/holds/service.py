"""Holds: create, release, list, and the check erasure runs first.

Services join the caller's transaction and never commit; each hold change is appended
to the log (`hold.create`, `hold.release`) in that same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from service.auditlog.chain import record_internal
from service.auditlog.models import LogRecord
from service.auth.schemas import Principal
from service.holds.errors import HoldAlreadyReleased, HoldNotFound, InvalidHold
from service.holds.models import LegalHold
from service.holds.schemas import HoldCreate, HoldStatus, criteria
from service.incidents.models import Incident, IncidentEvidence
from service.incidents.schemas import Status
from service.logformat import format_time

# Statuses in which an incident is finished: its evidence is no longer held by it.
FINISHED = (Status.closed.value, Status.false_positive.value, Status.duplicate.value)


def _who(principal: Principal) -> str:
    return principal.name or principal.token_id


def _request_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get("request_id")
    return None if value is None else str(value)


def create_hold(*, session: Session, spec: HoldCreate, principal: Principal) -> LegalHold:
    incident_number = None
    if spec.incident is not None:
        incident_number = int(spec.incident.removeprefix("INC-"))
        if session.get(Incident, incident_number) is None:
            raise InvalidHold(
                f"No incident {spec.incident}",
                errors=[{"field": "incident", "message": "no such incident"}],
            )
    hold = LegalHold(
        reason=spec.reason,
        incident_number=incident_number,
        actor_id=spec.actor,
        resource_type=spec.resource.type if spec.resource else None,
        resource_id=spec.resource.id if spec.resource else None,
        since=format_time(spec.since) if spec.since else None,
        until=format_time(spec.until) if spec.until else None,
        created_at=datetime.now(UTC),
        created_by=_who(principal),
        create_seq=0,  # set below, once the record naming this hold exists
    )
    session.add(hold)
    session.flush()  # the hold's number goes into its log record
    hold.create_seq = record_internal(
        session=session,
        action="hold.create",
        actor=principal.actor(),
        resource={"type": "hold", "id": hold.public_id},
        attributes={"reason": spec.reason, "criteria": criteria(hold)},
        request_id=_request_id(),
    )
    session.flush()
    return hold


def get_hold(*, session: Session, hold_id: str) -> LegalHold:
    number = hold_id.removeprefix("HOLD-")
    hold = session.get(LegalHold, int(number)) if number.isdigit() and len(number) < 10 else None
    if hold is None:
        raise HoldNotFound(f"No hold {hold_id}")
    return hold


def release_hold(*, session: Session, hold_id: str, reason: str, principal: Principal) -> LegalHold:
    hold = get_hold(session=session, hold_id=hold_id)
    if hold.released_at is not None:
        raise HoldAlreadyReleased(f"{hold.public_id} was released at {hold.released_at}")
    hold.released_at = datetime.now(UTC)
    hold.released_by = _who(principal)
    hold.release_reason = reason
    hold.release_seq = record_internal(
        session=session,
        action="hold.release",
        actor=principal.actor(),
        resource={"type": "hold", "id": hold.public_id},
        attributes={"reason": reason, "criteria": criteria(hold)},
        request_id=_request_id(),
    )
    session.flush()
    return hold


def list_holds(
    *, session: Session, status: HoldStatus | None, after: int, limit: int
) -> tuple[list[LegalHold], str | None]:
    stmt = select(LegalHold).where(LegalHold.number > after)
    if status is HoldStatus.active:
        stmt = stmt.where(LegalHold.released_at.is_(None))
    elif status is HoldStatus.released:
        stmt = stmt.where(LegalHold.released_at.is_not(None))
    rows = list(session.scalars(stmt.order_by(LegalHold.number).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (str(rows[-1].number) if more and rows else None)


@dataclass(frozen=True, slots=True)
class Held:
    """One reason an event cannot be erased now."""

    kind: str  # "incident" or "hold"
    id: str
    why: str

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "why": self.why}


def holds_on(
    *,
    session: Session,
    seq: int,
    actor_id: str | None,
    resource_type: str | None,
    resource_id: str | None,
    time: str,
) -> list[Held]:
    """Everything that holds the event `seq` (empty: it may be erased)."""
    found = [
        Held("incident", f"INC-{number}", f"evidence of INC-{number}, which is {status}")
        for number, status in session.execute(
            select(Incident.number, Incident.status)
            .join(IncidentEvidence, IncidentEvidence.incident_number == Incident.number)
            .where(IncidentEvidence.seq == seq, Incident.status.not_in(FINISHED))
            .order_by(Incident.number)
        )
    ]
    evidence_of = select(IncidentEvidence.incident_number).where(IncidentEvidence.seq == seq)
    matching = select(LegalHold.number, LegalHold.reason).where(
        LegalHold.released_at.is_(None),
        and_(
            or_(LegalHold.incident_number.is_(None), LegalHold.incident_number.in_(evidence_of)),
            or_(LegalHold.actor_id.is_(None), LegalHold.actor_id == actor_id),
            or_(LegalHold.resource_type.is_(None), LegalHold.resource_type == resource_type),
            or_(LegalHold.resource_id.is_(None), LegalHold.resource_id == resource_id),
            or_(LegalHold.since.is_(None), LegalHold.since <= time),
            or_(LegalHold.until.is_(None), LegalHold.until > time),
        ),
    )
    found.extend(
        Held("hold", f"HOLD-{number}", f"under legal hold HOLD-{number} ({reason})")
        for number, reason in session.execute(matching.order_by(LegalHold.number))
    )
    return found


def held_in_range(*, session: Session, first_seq: int, last_seq: int) -> Held | None:
    """The first thing that holds any record in `first_seq..last_seq` (None: nothing does),
    for archival: evidence of an unfinished incident, or a record an active hold matches.
    Same criteria as `holds_on`, checked for the range in one query each."""
    in_range = IncidentEvidence.seq.between(first_seq, last_seq)
    unfinished = session.execute(
        select(Incident.number, Incident.status)
        .join(IncidentEvidence, IncidentEvidence.incident_number == Incident.number)
        .where(in_range, Incident.status.not_in(FINISHED))
        .order_by(Incident.number)
        .limit(1)
    ).first()
    if unfinished is not None:
        number, status = unfinished
        return Held("incident", f"INC-{number}", f"evidence of INC-{number}, which is {status}")
    active = session.scalars(
        select(LegalHold).where(LegalHold.released_at.is_(None)).order_by(LegalHold.number)
    )
    for hold in active:
        records = select(LogRecord.seq).where(LogRecord.seq.between(first_seq, last_seq))
        if hold.incident_number is not None:
            records = records.where(
                LogRecord.seq.in_(
                    select(IncidentEvidence.seq).where(
                        IncidentEvidence.incident_number == hold.incident_number, in_range
                    )
                )
            )
        for column, value in (
            (LogRecord.actor_id, hold.actor_id),
            (LogRecord.resource_type, hold.resource_type),
            (LogRecord.resource_id, hold.resource_id),
        ):
            if value is not None:
                records = records.where(column == value)
        if hold.since is not None:
            records = records.where(LogRecord.time >= hold.since)
        if hold.until is not None:
            records = records.where(LogRecord.time < hold.until)
        if session.execute(records.limit(1)).first() is not None:
            return Held(
                "hold",
                f"HOLD-{hold.number}",
                f"under legal hold HOLD-{hold.number} ({hold.reason})",
            )
    return None
