"""Routes: the runbook library, and the runbook instance of an incident."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from service.auth.deps import require
from service.auth.schemas import Principal, Scope
from service.config import Settings
from service.deps import get_session, get_settings
from service.incidents import service as incidents
from service.incidents.custody import Actor
from service.runbooks import instances, library
from service.runbooks.schemas import RunbookTemplate, StepStatus

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


def _summary(template: RunbookTemplate) -> dict[str, Any]:
    return {
        "id": template.id,
        "title": template.title,
        "version": template.version,
        "applies_to": list(template.applies_to),
        "severity_min": template.severity_min,
        "content_hash": template.content_hash,
        "steps": sum(1 for _ in template.steps()),
    }


def _template(settings: Settings, runbook_id: str) -> RunbookTemplate:
    template = library.find(settings.runbooks_dir, runbook_id)
    if template is None:
        raise instances.RunbookNotFound(f"No runbook {runbook_id!r}")
    return template


@router.get("/runbooks")
def list_runbooks(_: Read, settings: Config) -> dict[str, Any]:
    items = [_summary(t) for t in library.templates(settings.runbooks_dir)]
    return {"items": items, "next_cursor": None}


@router.get("/runbooks/{runbook_id}")
def get_runbook(_: Read, runbook_id: str, settings: Config) -> dict[str, Any]:
    template = _template(settings, runbook_id)
    return {
        **_summary(template),
        "overview": template.overview,
        "phases": [
            {"phase": phase.value, "steps": [s.model_dump() for s in steps]}
            for phase, steps in template.phases.items()
        ],
    }


@router.get("/incidents/{incident_id}/runbook")
def get_instance(_: Read, incident_id: str, session: Db) -> dict[str, Any]:
    incident = incidents.get(session=session, incident_id=incident_id)
    return instances.to_out(
        instances.instance_for_incident(session=session, number=incident.number)
    )


@router.post("/incidents/{incident_id}/runbook/steps/{step_id}")
def post_step(
    principal: Respond, incident_id: str, step_id: str, body: StepUpdate, session: Db
) -> dict[str, Any]:
    incident = incidents.lock(session=session, incident_id=incident_id)
    instance = instances.update_step(
        session=session,
        incident=incident,
        step_id=step_id,
        status=body.status,
        note=body.note,
        seqs=body.evidence,
        actor=Actor.of(principal),
    )
    out = instances.to_out(instance)
    session.commit()
    return out


@router.post("/incidents/{incident_id}/runbook")
def swap_runbook(
    principal: Respond, incident_id: str, body: RunbookSwap, session: Db, settings: Config
) -> dict[str, Any]:
    template = _template(settings, body.runbook_id)
    incident = incidents.lock(session=session, incident_id=incident_id)
    instance = instances.swap(
        session=session,
        incident=incident,
        template=template,
        reason=body.reason,
        actor=Actor.of(principal),
    )
    out = instances.to_out(instance)
    session.commit()
    return out
