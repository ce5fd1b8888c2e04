"""Routes of the snoozes domain: create and release (respond; critical rules: admin), list."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from service.auth.deps import require
from service.auth.schemas import Principal, Scope
from service.deps import get_session
from service.errors import InvalidInput
from service.rules.api import get_registry
from service.rules.ruleset import RuleRegistry
from service.snoozes import service
from service.snoozes.errors import InvalidSnooze
from service.snoozes.schemas import SnoozeCreate, SnoozeOut, SnoozePage, SnoozeRelease, snooze_out

router = APIRouter(prefix="/v1/snoozes", tags=["snoozes"])


@router.post("", response_model=SnoozeOut, status_code=201)
def post_snooze(
    body: SnoozeCreate,
    principal: Principal = Depends(require(Scope.respond)),
    session: Session = Depends(get_session),
    registry: RuleRegistry = Depends(get_registry),
) -> SnoozeOut:
    """Silence a deployed rule for a group or an entity until a time. Matching firings open
    no incident; they are counted on the snooze and logged. Critical rules need admin."""
    rule = next(
        (r for r in registry.current().rules if body.rule in (r.id, r.name) and r.emits), None
    )
    if rule is None:
        raise InvalidSnooze(
            f"No deployed rule {body.rule!r}",
            errors=[{"field": "rule", "message": "not a deployed rule id or name"}],
        )
    now = datetime.now(UTC)
    snooze = service.create_snooze(
        session=session,
        spec=body,
        principal=principal,
        rule_id=rule.id,
        rule_severity=str(rule.severity),
        now=now,
    )
    session.commit()
    return snooze_out(snooze, now=now)


@router.get("", response_model=SnoozePage)
def get_snoozes(
    _: Principal = Depends(require(Scope.read)),
    active: Annotated[bool, Query(description="only snoozes in force now")] = False,
    cursor: Annotated[
        str | None, Query(pattern=r"^[0-9]{1,9}$", description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    session: Session = Depends(get_session),
) -> SnoozePage:
    if cursor is not None and not (cursor.isdigit() and len(cursor) < 10):
        raise InvalidInput(
            "cursor is not a next_cursor value",
            errors=[{"field": "cursor", "message": "not a cursor"}],
        )
    now = datetime.now(UTC)
    rows, next_cursor = service.list_snoozes(
        session=session, active_only=active, now=now, after=int(cursor or 0), limit=limit
    )
    return SnoozePage(items=[snooze_out(s, now=now) for s in rows], next_cursor=next_cursor)


@router.get("/{snooze_id}", response_model=SnoozeOut)
def get_snooze(
    snooze_id: str,
    _: Principal = Depends(require(Scope.read)),
    session: Session = Depends(get_session),
) -> SnoozeOut:
    return snooze_out(
        service.get_snooze(session=session, snooze_id=snooze_id), now=datetime.now(UTC)
    )


@router.post("/{snooze_id}/release", response_model=SnoozeOut)
def post_release(
    snooze_id: str,
    body: SnoozeRelease,
    principal: Principal = Depends(require(Scope.respond)),
    session: Session = Depends(get_session),
) -> SnoozeOut:
    now = datetime.now(UTC)
    snooze = service.release_snooze(
        session=session, snooze_id=snooze_id, reason=body.reason, principal=principal, now=now
    )
    session.commit()
    return snooze_out(snooze, now=now)
