"""Routes: the log explorer (query, full text, one event) and verified replay of a range."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from service.auditlog import queries as log_queries
from service.auditlog.schemas import EventFilters
from service.auth.audit import audit_read
from service.auth.schemas import Scope
from service.config import Settings
from service.console.sessions import Signed
from service.console.verification import verify_trailer
from service.console.web import PREFIX, page, render, validated
from service.deps import get_session, get_settings
from service.errors import InvalidInput
from service.evidence.schemas import Scope as EvidenceScope
from service.search.api import get_search_index
from service.search.index import SearchIndex
from service.search.service import search_events

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Reader = Annotated[Signed, Depends(page(Scope.read))]
Db = Annotated[Session, Depends(get_session)]
Config = Annotated[Settings, Depends(get_settings)]
Index = Annotated[SearchIndex, Depends(get_search_index)]
FILTER_FIELDS = ("source", "actor", "action", "resource_type", "resource_id", "since", "until")
PAGE = 50


def _params(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    return {n: v for n in names if (v := request.query_params.get(n, "").strip())}


def _seq(request: Request, name: str) -> int:
    value = request.query_params.get(name, "").strip()
    if not value:
        return 0
    if not value.isdigit():
        raise InvalidInput(
            f"{name}: not a number", errors=[{"field": name, "message": "not a number"}]
        )
    return int(value)


def _pretty(item: dict[str, Any]) -> str:
    return orjson.dumps(item, option=orjson.OPT_INDENT_2).decode()


@router.get("/log")
def explorer(signed: Reader, request: Request, session: Db, index: Index) -> Response:
    echo = _params(request, FILTER_FIELDS)
    filters = validated(EventFilters, dict(echo))
    q = request.query_params.get("q", "").strip()
    if len(q) > 1024:
        raise InvalidInput(
            "q: at most 1024 characters", errors=[{"field": "q", "message": "too long"}]
        )
    after = _seq(request, "after")
    audit_read(session=session, request=request, principal=signed.principal)
    session.commit()
    if q:
        found = search_events(
            session=session, index=index, query=q, filters=filters, after=after, limit=PAGE
        )
        items = [e.model_dump(mode="json") for e in found.items]
        next_cursor = found.next_cursor
    else:
        items, next_cursor = log_queries.page(
            session=session, filters=filters, after_seq=after, limit=PAGE
        )
    base = urlencode({**echo, **({"q": q} if q else {})})
    return render(
        request,
        "log.html",
        {"items": items, "next_cursor": next_cursor, "f": {**echo, "q": q}, "base": base},
        signed=signed,
    )


@router.get("/log/replay")
def replay_range(signed: Reader, request: Request, session: Db, settings: Config) -> Response:
    """Replay a range in the server: each record re-hashed, linked and proven included in
    the signed tree; the trailer says whether all of it verified."""
    fields: dict[str, Any] = _params(request, (*FILTER_FIELDS, "from_seq", "to_seq"))
    scope = validated(EvidenceScope, fields)
    if scope.from_seq is None and scope.to_seq is None and scope.since is None:
        raise InvalidInput(
            "from_seq: give a range to replay (from_seq/to_seq or since/until)",
            errors=[{"field": "from_seq", "message": "required without since"}],
        )
    audit_read(session=session, request=request, principal=signed.principal)
    session.commit()
    trailer, shown = verify_trailer(session=session, scope=scope, settings=settings)
    return render(
        request,
        "replay.html",
        {"t": trailer, "items": shown, "f": fields},
        signed=signed,
    )


@router.get("/log/{seq}")
def event_page(signed: Reader, request: Request, seq: int, session: Db) -> Response:
    audit_read(session=session, request=request, principal=signed.principal)
    session.commit()
    event = log_queries.get_event(session=session, seq=seq)
    return render(request, "event.html", {"e": event, "pretty": _pretty(event)}, signed=signed)
