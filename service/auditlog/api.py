"""Routes of the log: ingest, reads, head and verification."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from service.auditlog import queries
from service.auditlog.chain import read_head
from service.auditlog.dedup import ContentDedup
from service.auditlog.erase import erase_payload
from service.auditlog.formats import InputFormat, parse_body
from service.auditlog.prepare import Limits
from service.auditlog.schemas import (
    MAX_SEQ,
    EventFilters,
    EventOut,
    EventPage,
    IngestResult,
    LogHead,
    Outcome,
    Timestamp,
    VerifyReport,
)
from service.auditlog.service import IngestOptions, ingest
from service.auditlog.verify import verify_chain
from service.auth.audit import audit_read
from service.auth.deps import require
from service.auth.schemas import Principal, Scope
from service.body import read_body
from service.config import Settings
from service.deps import get_deferred_session, get_session, get_settings
from service.errors import InvalidInput

router = APIRouter(prefix="/v1", tags=["log"])
NDJSON = "application/x-ndjson"


def event_filters(
    source: str | None = None,
    actor: Annotated[str | None, Query(description="actor.id")] = None,
    action: Annotated[
        str | None, Query(description="exact, or a prefix ending in * (model.*)")
    ] = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
    outcome: Outcome | None = None,
    since: Annotated[Timestamp | None, Query(description="event time >= since (RFC 3339)")] = None,
    until: Annotated[Timestamp | None, Query(description="event time < until (RFC 3339)")] = None,
) -> EventFilters:
    return EventFilters(
        source=source,
        actor=actor,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        outcome=outcome,
        since=since,
        until=until,
    )


@router.post("/events", response_model=IngestResult)
def post_events(
    request: Request,
    principal: Principal = Depends(require(Scope.ingest)),
    body: bytes = Depends(read_body),
    partial: Annotated[bool, Query(description="store the valid items, list the rejected")] = False,
    format: Annotated[
        InputFormat | None, Query(description="input format; detected per record when absent")
    ] = None,
    session: Session = Depends(get_deferred_session),
    settings: Settings = Depends(get_settings),
) -> IngestResult:
    # Bodies take turns (`service.auditlog.turns`; one at a time per process on SQLite).
    with request.app.state.ingest_turns.take() as turn:
        parsed = parse_body(
            body,
            request.headers.get("content-type"),
            format=format.value if format else None,
            max_events=settings.max_events_per_request,
        )
        result = ingest(
            session=session,
            parsed=parsed,
            options=_options(settings, principal, partial),
            turn=turn,
        )
        turn.commit(session)  # before the response: an acknowledged event is a committed event
    metrics = request.app.state.metrics
    metrics.events_ingested.inc(result.accepted)
    metrics.events_duplicate.inc(result.duplicates)
    metrics.events_rejected.inc(result.rejected)
    return result


def _options(settings: Settings, principal: Principal, partial: bool) -> IngestOptions:
    return IngestOptions(
        limits=Limits(settings.max_attributes_bytes, settings.max_raw_bytes),
        partial=partial,
        bound_source=principal.source,
        origin=principal.token_id,
        dedup=ContentDedup(
            frozenset(settings.content_dedup_sources), settings.content_dedup_window_seconds
        )
        if settings.content_dedup_sources
        else None,
    )


def _ndjson(
    request: Request, filters: EventFilters, after_seq: int, limit: int | None
) -> Iterator[bytes]:
    with request.app.state.sessionmaker() as session:
        for event in queries.stream(
            session=session, filters=filters, after_seq=after_seq, limit=limit
        ):
            yield orjson.dumps(event) + b"\n"


@router.get("/events", response_model=EventPage, responses={200: {"content": {NDJSON: {}}}})
def get_events(
    request: Request,
    principal: Principal = Depends(require(Scope.read)),
    filters: EventFilters = Depends(event_filters),
    after_seq: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
    cursor: Annotated[
        str | None, Query(pattern=r"^[0-9]{1,18}$", description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    include_raw: bool = False,
    session: Session = Depends(get_session),
) -> EventPage | StreamingResponse:
    if cursor is not None:
        if not cursor.isdigit() or int(cursor) > MAX_SEQ:
            raise InvalidInput(
                "cursor is not a next_cursor value",
                errors=[{"field": "cursor", "message": "not a cursor"}],
            )
        after_seq = int(cursor)
    audit_read(session=session, request=request, principal=principal)
    session.commit()
    if NDJSON in request.headers.get("accept", ""):
        # Streams are not capped by `limit` unless the caller asked for one explicitly.
        cap = limit if "limit" in request.query_params else None
        return StreamingResponse(_ndjson(request, filters, after_seq, cap), media_type=NDJSON)
    items, next_cursor = queries.page(
        session=session, filters=filters, after_seq=after_seq, limit=limit, include_raw=include_raw
    )
    return EventPage(items=[EventOut(**i) for i in items], next_cursor=next_cursor)


@router.get("/events/{seq}", response_model=EventOut)
def get_event(
    request: Request,
    seq: Annotated[int, Path(ge=1, le=MAX_SEQ)],
    principal: Principal = Depends(require(Scope.read)),
    session: Session = Depends(get_session),
) -> EventOut:
    audit_read(session=session, request=request, principal=principal)
    session.commit()
    return EventOut(**queries.get_event(session=session, seq=seq))


class EraseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(min_length=3, max_length=2000)]


class Erased(BaseModel):
    seq: int
    erase_seq: int


@router.post("/events/{seq}/erase", response_model=Erased)
def post_erase(
    seq: Annotated[int, Path(ge=1, le=MAX_SEQ)],
    body: EraseRequest,
    principal: Principal = Depends(require(Scope.admin)),
    session: Session = Depends(get_session),
) -> Erased:
    """Delete the event's attributes and raw record (e.g. personal data in a prompt);
    the chain stays valid and the erasure itself is logged with its reason."""
    erase_seq = erase_payload(session=session, seq=seq, reason=body.reason, actor=principal.actor())
    session.commit()
    return Erased(seq=seq, erase_seq=erase_seq)


@router.get("/log/head", response_model=LogHead)
def get_head(
    _: Principal = Depends(require(Scope.read)), session: Session = Depends(get_session)
) -> LogHead:
    seq, head = read_head(session)
    return LogHead(seq=seq, hash=head)


@router.get("/log/verify", response_model=VerifyReport)
def get_verify(
    _: Principal = Depends(require(Scope.read)),
    from_seq: Annotated[int, Query(ge=1, le=MAX_SEQ)] = 1,
    to_seq: Annotated[int | None, Query(ge=1, le=MAX_SEQ)] = None,
    session: Session = Depends(get_session),
) -> VerifyReport:
    return verify_chain(session=session, from_seq=from_seq, to_seq=to_seq)
