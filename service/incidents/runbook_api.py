"""Routes: the runbook instance of an incident (read, step updates, swap)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from service.auth.deps import require
from service.auth.schemas import Principal, Scope
from service.config import Settings
from service.deps import get_session, get_settings
from service.incidents import runbook
from service.incidents import service as incidents
from service.incidents.custody import Actor
from service.runbooks.api import template_of
from service.runbooks.schemas import StepStatus

router = APIRouter(prefix="/v1", tags=["runbooks"])
Read = Annotated[Principal, Depends(require(Scope.read))]
Respond = Annotated[Principal, Depends(require(Scope.respond))]
Db = Annotated[Session, Depends(get_session)]
Config = Annotated[Settings, Depends(get_settings)]


class StepUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: StepStatus
    note: Annotated[str, Field(max_length=20_000)] | None = None
    evidence: Annotated[list[Annotated[int, Field(ge=1)]], Field(max_length=10_000)] = []


class RunbookSwap(BaseModel):
    model_config = ConfigDict(extra="forbid")
    runbook_id: Annotated[str, Field(min_length=1, max_length=80)]
    reason: Annotated[str, Field(min_length=1, max_length=20_000)]


@router.get("/incidents/{incident_id}/runbook")
def get_instance(_: Read, incident_id: str, session: Db) -> dict[str, Any]:
    incident = incidents.get(session=session, incident_id=incident_id)
    return runbook.to_out(runbook.instance_for_incident(session=session, number=incident.number))


@router.post("/incidents/{incident_id}/runbook/steps/{step_id}")
def post_step(
    principal: Respond, incident_id: str, step_id: str, body: StepUpdate, session: Db
) -> dict[str, Any]:
    incident = incidents.lock(session=session, incident_id=incident_id)
    instance = runbook.update_step(
        session=session,
        incident=incident,
        step_id=step_id,
        status=body.status,
        note=body.note,
        seqs=body.evidence,
        actor=Actor.of(principal),
    )
    out = runbook.to_out(instance)
    session.commit()
    return out


@router.post("/incidents/{incident_id}/runbook")
def swap_runbook(
    principal: Respond, incident_id: str, body: RunbookSwap, session: Db, settings: Config
) -> dict[str, Any]:
    template = template_of(settings, body.runbook_id)
    incident = incidents.lock(session=session, incident_id=incident_id)
    instance = runbook.swap(
        session=session,
        incident=incident,
        template=template,
        reason=body.reason,
        actor=Actor.of(principal),
    )
    out = runbook.to_out(instance)
    session.commit()
    return out
