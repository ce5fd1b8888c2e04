"""Routes: one incident (read), its changes (respond), its report, bundle and entities."""

from __future__ import annotations

import os
import tempfile
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, PlainTextResponse, Response
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from service.auth.audit import audit_read
from service.auth.schemas import Scope
from service.config import Settings
from service.console.sessions import Signed
from service.console.verification import verify_trailer
from service.console.web import PREFIX, Posted, form, page, redirect, render, secure, validated
from service.deps import get_session, get_settings
from service.errors import InvalidInput
from service.evidence.checkpoints import signer as checkpoint_signer
from service.evidence.exports import export_bundle
from service.evidence.schemas import Scope as EvidenceScope
from service.incidents import changes, entity_store, queries, report, runbook
from service.incidents import evidence as evidence_mod
from service.incidents import service as incidents
from service.incidents.custody import Actor
from service.incidents.runbook_api import StepUpdate
from service.incidents.schemas import IncidentPatch
from service.incidents.sla import policy_of

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Reader = Annotated[Signed, Depends(page(Scope.read))]
ReadForm = Annotated[Posted, Depends(form(Scope.read))]
RespondForm = Annotated[Posted, Depends(form(Scope.respond))]
Db = Annotated[Session, Depends(get_session)]
Config = Annotated[Settings, Depends(get_settings)]
EVIDENCE_PAGE = 20


def _cursor(value: str | None) -> int:
    if not value:
        return 0
    if not value.isdigit():
        raise InvalidInput(
            "evidence cursor is not a seq", errors=[{"field": "after", "message": "not a number"}]
        )
    return int(value)


@router.get("/incidents/{incident_id}")
def incident_page(
    signed: Reader, request: Request, incident_id: str, session: Db, after: str | None = None
) -> Response:
    after_seq = _cursor(after)
    # Evidence is a read of the trail: on the record first, as the API does.
    audit_read(session=session, request=request, principal=signed.principal)
    session.commit()
    incident = incidents.get(session=session, incident_id=incident_id)
    out = queries.one(session=session, incident=incident).model_dump(mode="json")
    entries, _ = queries.timeline(session=session, number=incident.number, limit=500)
    timeline = [report.timeline_out(e).model_dump(mode="json") for e in entries]
    evidence, next_after = evidence_mod.page(
        session=session, number=incident.number, after_seq=after_seq, limit=EVIDENCE_PAGE
    )
    for item in evidence:
        item["pretty"] = orjson.dumps(item, option=orjson.OPT_INDENT_2).decode()
    instance = runbook.get(session=session, number=incident.number)
    return render(
        request,
        "incident.html",
        {
            "i": out,
            "timeline": timeline,
            "evidence": evidence,
            "after": after_seq,
            "next_after": next_after,
            "runbook": runbook.to_out(instance) if instance else None,
        },
        signed=signed,
    )


def _back(incident_id: str, anchor: str) -> Response:
    return redirect(f"{PREFIX}/incidents/{incident_id}#{anchor}")


def _version(posted: Posted) -> int | None:
    value = posted.get("version")
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput(
            "version: not a number", errors=[{"field": "version", "message": "not a number"}]
        )
    return int(value)


@router.post("/incidents/{incident_id}/status")
def post_status(posted: RespondForm, incident_id: str, session: Db, settings: Config) -> Response:
    data: dict[str, Any] = {"status": posted.get("status") or None}
    if posted.get("duplicate_of"):
        data["duplicate_of"] = posted.get("duplicate_of")
    patch = validated(IncidentPatch, data)
    if patch.status is None:
        raise InvalidInput(
            "status: choose the next status", errors=[{"field": "status", "message": "required"}]
        )
    changes.update_incident(
        session=session, incident_id=incident_id, patch=patch, if_match=_version(posted),
        actor=Actor.of(posted.signed.principal), sla=policy_of(settings),
    )  # fmt: skip
    session.commit()
    return _back(incident_id, "summary")


@router.post("/incidents/{incident_id}/assign")
def post_assign(posted: RespondForm, incident_id: str, session: Db, settings: Config) -> Response:
    patch = validated(IncidentPatch, {"assignee": posted.get("assignee") or None})
    changes.update_incident(
        session=session, incident_id=incident_id, patch=patch, if_match=_version(posted),
        actor=Actor.of(posted.signed.principal), sla=policy_of(settings),
    )  # fmt: skip
    session.commit()
    return _back(incident_id, "summary")


@router.post("/incidents/{incident_id}/comments")
def post_comment(posted: RespondForm, incident_id: str, session: Db) -> Response:
    body = posted.get("body")
    if not body:
        raise InvalidInput("body: write a comment", errors=[{"field": "body", "message": "empty"}])
    if len(body) > 20_000:
        raise InvalidInput(
            "body: at most 20000 characters", errors=[{"field": "body", "message": "too long"}]
        )
    changes.add_comment(
        session=session, incident_id=incident_id, body=body, actor=Actor.of(posted.signed.principal)
    )
    session.commit()
    return _back(incident_id, "timeline")


@router.post("/incidents/{incident_id}/steps/{step_id}")
def post_step(posted: RespondForm, incident_id: str, step_id: str, session: Db) -> Response:
    update = validated(
        StepUpdate, {"status": posted.get("status"), "note": posted.get("note") or None}
    )
    incident = incidents.lock(session=session, incident_id=incident_id)
    runbook.update_step(
        session=session, incident=incident, step_id=step_id, status=update.status,
        note=update.note, seqs=[], actor=Actor.of(posted.signed.principal),
    )  # fmt: skip
    session.commit()
    return _back(incident_id, f"step-{step_id}")


@router.get("/incidents/{incident_id}/report")
def get_report(signed: Reader, request: Request, incident_id: str, session: Db) -> Response:
    audit_read(session=session, request=request, principal=signed.principal)
    session.commit()
    incident = incidents.get(session=session, incident_id=incident_id)
    text = report.markdown(session=session, incident=incident)
    response = PlainTextResponse(text, media_type="text/markdown; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{incident.public_id}.md"'
    return secure(response)


@router.post("/incidents/{incident_id}/export")
def post_export(
    posted: ReadForm, request: Request, incident_id: str, session: Db, settings: Config
) -> Response:
    """The incident's evidence bundle (zip), verifiable offline with `custody verify-bundle`."""
    incident = incidents.get(session=session, incident_id=incident_id)
    audit_read(session=session, request=request, principal=posted.signed.principal)
    fd, path = tempfile.mkstemp(prefix="custody-export-", suffix=".zip")
    try:
        with os.fdopen(fd, "wb") as out:
            export_bundle(
                session=session,
                scope=EvidenceScope(incident=incident.public_id),
                signer=checkpoint_signer(settings.signing_key_path),
                out=out,
            )
        session.commit()
    except BaseException:
        os.unlink(path)
        raise
    return secure(
        FileResponse(
            path,
            media_type="application/zip",
            filename=f"{incident.public_id}-evidence.zip",
            background=BackgroundTask(os.unlink, path),
        )
    )


@router.get("/incidents/{incident_id}/verify")
def get_verify(
    signed: Reader, request: Request, incident_id: str, session: Db, settings: Config
) -> Response:
    incident = incidents.get(session=session, incident_id=incident_id)
    audit_read(session=session, request=request, principal=signed.principal)
    session.commit()
    trailer, _ = verify_trailer(
        session=session, scope=EvidenceScope(incident=incident.public_id), settings=settings
    )
    return render(
        request,
        "verify.html",
        {"incident_id": incident.public_id, "t": trailer},
        signed=signed,
    )


@router.get("/entities/{entity_type}/{value:path}")
def entity_page(
    signed: Reader, request: Request, entity_type: str, value: str, session: Db
) -> Response:
    found = entity_store.lookup(session=session, kind=entity_type, value=value)
    return render(request, "entity.html", {"e": found}, signed=signed)
