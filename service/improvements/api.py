"""Routes: record improvements on an incident (respond), list and close them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from service.auth.deps import require
from service.auth.schemas import Principal, Scope
from service.deps import get_session
from service.improvements import service
from service.improvements.schemas import (
    ImprovementClose,
    ImprovementCreate,
    ImprovementOut,
    ImprovementPage,
    Status,
    improvement_out,
)
from service.incidents.custody import Actor

router = APIRouter(prefix="/v1", tags=["improvements"])
Read = Annotated[Principal, Depends(require(Scope.read))]
Respond = Annotated[Principal, Depends(require(Scope.respond))]
Db = Annotated[Session, Depends(get_session)]


@router.post(
    "/incidents/{incident_id}/improvements", response_model=ImprovementOut, status_code=201
)
def post_improvement(
    principal: Respond, incident_id: str, body: ImprovementCreate, session: Db
) -> ImprovementOut:
    """Record a lesson of the incident as a tracked item (a rule, a runbook change or a
    control gap); it is a change in the incident's history (`incident.improvement`)."""
    item = service.record(
        session=session, incident_id=incident_id, spec=body, actor=Actor.of(principal)
    )
    session.commit()
    return improvement_out(item)


@router.get("/improvements", response_model=ImprovementPage)
def get_improvements(
    _: Read,
    session: Db,
    status: Status | None = None,
    incident: Annotated[
        str | None,
        Query(pattern=r"^(INC-)?[1-9][0-9]{0,17}$", description="only this incident's: INC-7"),
    ] = None,
    cursor: Annotated[
        str | None, Query(pattern=r"^[0-9]{1,9}$", description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ImprovementPage:
    """Improvement items across incidents, oldest first; `status=open` for the backlog."""
    rows, next_cursor = service.page(
        session=session, status=status, incident_id=incident, after=int(cursor or 0), limit=limit
    )
    return ImprovementPage(items=[improvement_out(r) for r in rows], next_cursor=next_cursor)


@router.get("/improvements/{improvement_id}", response_model=ImprovementOut)
def get_improvement(_: Read, improvement_id: str, session: Db) -> ImprovementOut:
    return improvement_out(service.get(session=session, improvement_id=improvement_id))


@router.post("/improvements/{improvement_id}/close", response_model=ImprovementOut)
def close_improvement(
    principal: Respond, improvement_id: str, body: ImprovementClose, session: Db
) -> ImprovementOut:
    """Close an item as `done` or `declined`, with a note (in the incident's history)."""
    item = service.close(
        session=session, improvement_id=improvement_id, spec=body, actor=Actor.of(principal)
    )
    session.commit()
    return improvement_out(item)
