"""Snoozes: create, release, list; the check the firing path runs; expiry.

Services join the caller's transaction and never commit; every change is appended to
the log in that same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auditlog.chain import record_internal
from service.auth.errors import Forbidden
from service.auth.schemas import GRANTS, Principal, Scope
from service.config import Settings
from service.incidents import evidence as evidence_mod
from service.incidents.entities import extract
from service.incidents.entities import parse as parse_entity
from service.logging import get_logger
from service.snoozes.errors import InvalidSnooze, SnoozeAlreadyReleased, SnoozeNotFound
from service.snoozes.models import MAX_ATTACHED, Snooze
from service.snoozes.schemas import SnoozeCreate
from service.worker import PeriodicTask

log = get_logger(__name__)
SYSTEM = {"type": "service", "id": "snooze-watch"}


def _request_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get("request_id")
    return None if value is None else str(value)


def create_snooze(
    *,
    session: Session,
    spec: SnoozeCreate,
    principal: Principal,
    rule_id: str,
    rule_severity: str,
    now: datetime,
) -> Snooze:
    """Silence `rule_id` for a group or an entity until `spec.until`."""
    if rule_severity == "critical" and Scope.admin not in GRANTS[principal.scope]:
        raise Forbidden("Snoozing a critical rule needs the admin scope")
    if spec.until <= now:
        raise InvalidSnooze(
            "until is in the past", errors=[{"field": "until", "message": "must be in the future"}]
        )
    entity_type = entity_value = None
    if spec.entity is not None:
        try:
            entity_type, entity_value = parse_entity(spec.entity)
        except ValueError as exc:
            raise InvalidSnooze(
                str(exc), errors=[{"field": "entity", "message": str(exc)}]
            ) from None
    snooze = Snooze(
        rule_id=rule_id,
        group=dict(spec.group) if spec.group is not None else None,
        entity_type=entity_type,
        entity_value=entity_value,
        until=spec.until,
        reason=spec.reason,
        created_at=now,
        created_by=principal.name or principal.token_id,
        suppressed=0,
        seqs=[],
    )
    session.add(snooze)
    session.flush()  # the number goes into the log record
    record_internal(
        session=session,
        action="snooze.create",
        actor=principal.actor(),
        resource={"type": "snooze", "id": snooze.public_id},
        attributes={
            "rule_id": rule_id,
            "severity": rule_severity,
            "group": snooze.group,
            "entity": spec.entity,
            "until": spec.until.isoformat(),
            "reason": spec.reason,
        },
        request_id=_request_id(),
    )
    return snooze


def get_snooze(*, session: Session, snooze_id: str) -> Snooze:
    number = snooze_id.removeprefix("SNZ-")
    found = session.get(Snooze, int(number)) if number.isdigit() and len(number) < 10 else None
    if found is None:
        raise SnoozeNotFound(f"No snooze {snooze_id}")
    return found


def release_snooze(
    *, session: Session, snooze_id: str, reason: str, principal: Principal, now: datetime
) -> Snooze:
    snooze = get_snooze(session=session, snooze_id=snooze_id)
    if snooze.released_at is not None:
        raise SnoozeAlreadyReleased(f"{snooze.public_id} was released at {snooze.released_at}")
    snooze.released_at = now
    snooze.released_by = principal.name or principal.token_id
    record_internal(
        session=session,
        action="snooze.release",
        actor=principal.actor(),
        resource={"type": "snooze", "id": snooze.public_id},
        attributes={"reason": reason, "suppressed": snooze.suppressed},
        request_id=_request_id(),
    )
    return snooze


def list_snoozes(
    *, session: Session, active_only: bool, now: datetime, after: int, limit: int
) -> tuple[list[Snooze], str | None]:
    stmt = select(Snooze).where(Snooze.number > after)
    if active_only:
        stmt = stmt.where(Snooze.released_at.is_(None), Snooze.until > now)
    rows = list(session.scalars(stmt.order_by(Snooze.number).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (str(rows[-1].number) if more and rows else None)


def active_by_rule(*, session: Session, now: datetime) -> dict[str, list[Snooze]]:
    """The snoozes in force at `now`, by rule id, oldest first (one query per batch)."""
    out: dict[str, list[Snooze]] = {}
    for snooze in session.scalars(
        select(Snooze)
        .where(Snooze.released_at.is_(None), Snooze.until > now)
        .order_by(Snooze.number)
    ):
        out.setdefault(snooze.rule_id, []).append(snooze)
    return out


def suppress(
    *,
    session: Session,
    rule_id: str,
    group: Mapping[str, Any],
    evidence_seqs: Sequence[int],
    now: datetime,
    active: Sequence[Snooze],
) -> Snooze | None:
    """If one of the `active` snoozes of `rule_id` (see `active_by_rule`) silences this
    firing, count it there (and in the log) and return the snooze; None means the firing
    goes on to open an incident."""
    if not active:
        return None
    entities: set[tuple[str, str]] | None = None
    for snooze in active:
        if snooze.group is not None:
            if not all(str(group.get(k)) == str(v) for k, v in snooze.group.items()):
                continue
        else:
            if entities is None:
                events = evidence_mod.records(session=session, seqs=list(evidence_seqs))
                entities = {pair for event in events for pair in extract(event)}
            if (snooze.entity_type, snooze.entity_value) not in entities:
                continue
        snooze.suppressed += 1
        snooze.last_suppressed_at = now
        kept = list(snooze.seqs or [])
        snooze.seqs = (kept + [s for s in evidence_seqs if s not in set(kept)])[:MAX_ATTACHED]
        record_internal(
            session=session,
            action="snooze.suppress",
            actor={"type": "rule", "id": rule_id},
            resource={"type": "snooze", "id": snooze.public_id},
            attributes={"rule_id": rule_id, "group": dict(group), "seqs": list(evidence_seqs)},
        )
        log.info("snooze.suppressed", snooze=snooze.public_id, rule_id=rule_id)
        return snooze
    return None


def expire(*, session: Session, now: datetime) -> int:
    """Log the end of every snooze that ran out and was not logged yet."""
    due = list(
        session.scalars(
            select(Snooze).where(
                Snooze.released_at.is_(None), Snooze.until <= now, Snooze.expired_seq.is_(None)
            )
        )
    )
    for snooze in due:
        snooze.expired_seq = record_internal(
            session=session,
            action="snooze.expire",
            actor=SYSTEM,
            resource={"type": "snooze", "id": snooze.public_id},
            attributes={"rule_id": snooze.rule_id, "suppressed": snooze.suppressed},
        )
    return len(due)


class SnoozeWatch(PeriodicTask):
    """Background task: records expiries, every `every` seconds."""

    name = "snooze-watch"

    def step(self, session: Session, now: datetime) -> int:
        return expire(session=session, now=now)


def build(settings: Settings) -> SnoozeWatch:
    return SnoozeWatch(every=settings.sla_check_seconds)
