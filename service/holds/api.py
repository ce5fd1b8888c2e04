"""Routes of the holds domain: create and release (admin), list and read (read)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from service.auth.deps import require
from service.auth.schemas import Principal, Scope
from service.deps import get_session
from service.errors import InvalidInput
from service.holds import service
from service.holds.schemas import HoldCreate, HoldOut, HoldPage, HoldRelease, HoldStatus, hold_out

router = APIRouter(prefix="/v1/holds", tags=["holds"])


@router.post("", response_model=HoldOut, status_code=201)
def post_hold(
    body: HoldCreate,
    principal: Principal = Depends(require(Scope.admin)),
    session: Session = Depends(get_session),
) -> HoldOut:
    """Hold events against erasure: by incident, actor, resource and/or event-time range
    (an event is held when it matches every criterion given). Logged as `hold.create`."""
    hold = service.create_hold(session=session, spec=body, principal=principal)
    session.commit()
    return hold_out(hold)


@router.get("", response_model=HoldPage)
def get_holds(
    _: Principal = Depends(require(Scope.read)),
    status: HoldStatus | None = None,
    cursor: Annotated[
        str | None, Query(pattern=r"^[0-9]{1,9}$", description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    session: Session = Depends(get_session),
) -> HoldPage:
    if cursor is not None and not (cursor.isdigit() and len(cursor) < 10):
        raise InvalidInput(
            "cursor is not a next_cursor value",
            errors=[{"field": "cursor", "message": "not a cursor"}],
        )
    holds, next_cursor = service.list_holds(
        session=session, status=status, after=int(cursor or 0), limit=limit
    )
    return HoldPage(items=[hold_out(h) for h in holds], next_cursor=next_cursor)


@router.get("/{hold_id}", response_model=HoldOut)
def get_hold(
    hold_id: str,
    _: Principal = Depends(require(Scope.read)),
    session: Session = Depends(get_session),
) -> HoldOut:
    return hold_out(service.get_hold(session=session, hold_id=hold_id))


@router.post("/{hold_id}/release", response_model=HoldOut)
def post_release(
    hold_id: str,
    body: HoldRelease,
    principal: Principal = Depends(require(Scope.admin)),
    session: Session = Depends(get_session),
) -> HoldOut:
    """Release a hold (logged as `hold.release` with the reason); it stays listed."""
    hold = service.release_hold(
        session=session, hold_id=hold_id, reason=body.reason, principal=principal
    )
    session.commit()
    return hold_out(hold)
