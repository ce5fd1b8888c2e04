"""Routes: the runbook library (templates). An incident's own runbook is served by
service.incidents.runbook_api."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from service.auth.deps import require
from service.auth.schemas import Principal, Scope
from service.config import Settings
from service.deps import get_settings
from service.runbooks import library
from service.runbooks.errors import RunbookNotFound
from service.runbooks.schemas import RunbookTemplate

router = APIRouter(prefix="/v1", tags=["runbooks"])
Read = Annotated[Principal, Depends(require(Scope.read))]
Config = Annotated[Settings, Depends(get_settings)]


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


def template_of(settings: Settings, runbook_id: str) -> RunbookTemplate:
    template = library.find(settings.runbooks_dir, runbook_id)
    if template is None:
        raise RunbookNotFound(f"No runbook {runbook_id!r}")
    return template


@router.get("/runbooks")
def list_runbooks(_: Read, settings: Config) -> dict[str, Any]:
    items = [_summary(t) for t in library.templates(settings.runbooks_dir)]
    return {"items": items, "next_cursor": None}


@router.get("/runbooks/{runbook_id}")
def get_runbook(_: Read, runbook_id: str, settings: Config) -> dict[str, Any]:
    template = template_of(settings, runbook_id)
    return {
        **_summary(template),
        "overview": template.overview,
        "phases": [
            {"phase": phase.value, "steps": [s.model_dump() for s in steps]}
            for phase, steps in template.phases.items()
        ],
    }
