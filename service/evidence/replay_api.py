"""Routes for investigators: verified replay, evidence exports, state as of a time."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import ValidationError
from sqlalchemy import Select
from sqlalchemy.orm import Session, sessionmaker
from starlette.background import BackgroundTask

from service.auditlog.schemas import MAX_SEQ, Timestamp
from service.auth.audit import audit_read
from service.auth.deps import require
from service.auth.schemas import Principal
from service.auth.schemas import Scope as AuthScope
from service.config import Settings
from service.deps import get_session, get_settings
from service.errors import InvalidInput
from service.evidence.agent_state import agent_at
from service.evidence.checkpoints import signer as checkpoint_signer
from service.evidence.checkpoints import signing_key
from service.evidence.exports import export_bundle
from service.evidence.replay import replay
from service.evidence.schemas import AccessState, AgentState, Scope, VersionState
from service.evidence.selection import select_scope
from service.evidence.state import access_at, version_at

router = APIRouter(prefix="/v1", tags=["replay"])
NDJSON = "application/x-ndjson"
ZIP = "application/zip"


def replay_scope(
    actor: Annotated[str | None, Query(description="actor.id")] = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
    source: str | None = None,
    action: Annotated[str | None, Query(description="exact, or a prefix ending in *")] = None,
    incident: Annotated[str | None, Query(description="INC-N")] = None,
    trace_id: Annotated[
        str | None, Query(description="one agent run (its request_id), answered as a tree")
    ] = None,
    since: Annotated[Timestamp | None, Query(description="event time >= since")] = None,
    until: Annotated[Timestamp | None, Query(description="event time < until")] = None,
    from_seq: Annotated[int | None, Query(ge=1, le=MAX_SEQ)] = None,
    to_seq: Annotated[int | None, Query(ge=1, le=MAX_SEQ)] = None,
) -> Scope:
    try:
        return Scope(
            actor=actor, resource_type=resource_type, resource_id=resource_id, source=source,
            action=action, incident=incident, trace_id=trace_id, since=since, until=until,
            from_seq=from_seq, to_seq=to_seq,
        )  # fmt: skip
    except ValidationError as exc:
        errors = [{"field": "scope", "message": e["msg"]} for e in exc.errors()]
        raise InvalidInput("; ".join(e["message"] for e in errors), errors=errors) from None


def replay_stream(
    sessions: sessionmaker[Session], scope: Scope, stmt: Select[Any], public_key: Ed25519PublicKey
) -> Iterator[bytes]:
    """The body of ``GET /v1/replay`` (``bench/verify.py`` measures exactly this)."""
    # Its own session: the request's is closed once the route returns.
    with sessions() as session:
        yield from replay(session=session, scope=scope, public_key=public_key, stmt=stmt)


@router.get("/replay", responses={200: {"content": {NDJSON: {}}}})
def get_replay(
    request: Request,
    principal: Principal = Depends(require(AuthScope.read)),
    scope: Scope = Depends(replay_scope),
    session: Session = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> StreamingResponse:
    """Records of the scope in seq order (NDJSON), each re-verified, then one trailer line
    ``{"trailer": {"verified", "count", "anchored", "checkpoint", "first_bad_seq", ...}}``."""
    stmt = select_scope(session=session, scope=scope)  # an unknown incident is a 404 here
    audit_read(session=session, request=request, principal=principal)
    session.commit()
    public_key = signing_key(settings.signing_key_path).public_key()
    body = replay_stream(request.app.state.sessionmaker, scope, stmt, public_key)
    return StreamingResponse(body, media_type=NDJSON)


@router.post("/exports", response_class=FileResponse, responses={200: {"content": {ZIP: {}}}})
def post_export(
    request: Request,
    scope: Annotated[Scope, Body()],
    principal: Principal = Depends(require(AuthScope.read)),
    session: Session = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> FileResponse:
    """The scope as an evidence bundle (zip), verifiable offline with the public key."""
    audit_read(session=session, request=request, principal=principal)
    signer = checkpoint_signer(settings.signing_key_path)
    fd, path = tempfile.mkstemp(prefix="custody-export-", suffix=".zip")
    try:
        with os.fdopen(fd, "wb") as out:
            export_bundle(session=session, scope=scope, signer=signer, out=out)
        session.commit()
    except BaseException:
        os.unlink(path)
        raise
    return FileResponse(
        path,
        media_type=ZIP,
        filename="custody-evidence.zip",
        background=BackgroundTask(os.unlink, path),
    )


@router.get("/state/access", response_model=AccessState)
def get_access_state(
    request: Request,
    resource_type: str,
    resource_id: str,
    at: Annotated[Timestamp, Query(description="RFC 3339 time to reconstruct")],
    principal: Principal = Depends(require(AuthScope.read)),
    session: Session = Depends(get_session),
) -> AccessState:
    """Who held which permission on the resource at ``at`` (from grant/revoke events)."""
    audit_read(session=session, request=request, principal=principal)
    session.commit()
    return access_at(session=session, resource_type=resource_type, resource_id=resource_id, at=at)


@router.get("/state/versions", response_model=VersionState)
def get_version_state(
    request: Request,
    resource_type: str,
    resource_id: str,
    at: Annotated[Timestamp, Query(description="RFC 3339 time to reconstruct")],
    principal: Principal = Depends(require(AuthScope.read)),
    session: Session = Depends(get_session),
) -> VersionState:
    """Which version of the resource was deployed at ``at`` (from model.deploy events)."""
    audit_read(session=session, request=request, principal=principal)
    session.commit()
    return version_at(session=session, resource_type=resource_type, resource_id=resource_id, at=at)


@router.get("/state/agent", response_model=AgentState)
def get_agent_state(
    request: Request,
    agent_id: Annotated[str, Query(min_length=1, max_length=512, description="actor.id")],
    at: Annotated[Timestamp, Query(description="RFC 3339 time to reconstruct")],
    since: Annotated[
        Timestamp | None, Query(description="principals acted for since (default: at - 30 days)")
    ] = None,
    principal: Principal = Depends(require(AuthScope.read)),
    session: Session = Depends(get_session),
) -> AgentState:
    """What the agent could do at ``at`` (permissions granted to it, tools it was given)
    and on whose behalf it acted (``attributes.on_behalf_of``) in ``[since, at]``."""
    try:
        start = since if since is not None else at - timedelta(days=30)
    except OverflowError:  # at in the first month of year 1
        start = at.replace(year=1, month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if start.tzinfo is None or at.tzinfo is None:
        raise InvalidInput(
            "at and since need a time zone", errors=[{"field": "at", "message": "no time zone"}]
        )
    if start > at:
        raise InvalidInput(
            "since must not be after at", errors=[{"field": "since", "message": "after at"}]
        )
    audit_read(session=session, request=request, principal=principal)
    session.commit()
    return agent_at(session=session, agent_id=agent_id, at=at, since=start)
