"""Route: the queue of incidents to triage, with filters, search and live refresh."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from service.auth.schemas import Scope
from service.console.sessions import Signed
from service.console.web import PREFIX, page, render
from service.deps import get_session
from service.errors import InvalidInput
from service.incidents import queries
from service.incidents.entities import parse as parse_entity
from service.incidents.schemas import Severity, SortKey, Status

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Reader = Annotated[Signed, Depends(page(Scope.read))]
Db = Annotated[Session, Depends(get_session)]
ACTIVE = ["open", "acknowledged", "contained"]
PAGE = 50


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", errors=[{"field": field, "message": message}])


def filters_of(request: Request) -> tuple[queries.IncidentFilters, dict[str, Any]]:
    """Queue filters from the query string (the form's fields), and the values to echo."""
    params = request.query_params
    status = [s for s in params.getlist("status") if s]
    severity = [s for s in params.getlist("severity") if s]
    for name, values, allowed in (("status", status, Status), ("severity", severity, Severity)):
        known = {e.value for e in allowed}
        bad = [v for v in values if v not in known]
        if bad:
            raise _bad(name, f"unknown {', '.join(bad)}; one of {', '.join(sorted(known))}")
    if "status" not in params:
        status = ACTIVE
    q = params.get("q", "").strip()
    if len(q) > 200:
        raise _bad("q", "at most 200 characters")
    entity_text = params.get("entity", "").strip()
    entity = None
    if entity_text:
        try:
            entity = parse_entity(entity_text)
        except ValueError as exc:
            raise _bad("entity", str(exc)) from None
    assignee = params.get("assignee", "").strip() or None
    overdue = params.get("overdue") == "1" or None
    filters = queries.IncidentFilters(
        status=status, severity=severity, assignee=assignee, q=q or None, entity=entity,
        overdue=overdue,
    )  # fmt: skip
    echo = {
        "status": status, "severity": severity, "q": q, "entity": entity_text,
        "assignee": assignee or "", "overdue": bool(overdue),
    }  # fmt: skip
    return filters, echo


def _rows(
    request: Request, session: Session
) -> tuple[list[dict[str, Any]], str | None, dict[str, Any]]:
    filters, echo = filters_of(request)
    cursor = request.query_params.get("cursor") or None
    # With one severity, severity order is opening order: sorting by number lets the
    # (status, severity, number) index answer the page without sorting.
    sort = SortKey.opened if len(filters.severity) == 1 else SortKey.severity
    items, next_cursor = queries.page(
        session=session, filters=filters, sort=sort, descending=True, cursor=cursor, limit=PAGE
    )
    return items, next_cursor, echo


def _query_without_cursor(request: Request) -> str:
    return urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "cursor"])


@router.get("/")
def queue(signed: Reader, request: Request, session: Db) -> Response:
    items, next_cursor, echo = _rows(request, session)
    return render(
        request,
        "queue.html",
        {
            "items": items,
            "next_cursor": next_cursor,
            "f": echo,
            "statuses": [s.value for s in Status],
            "severities": [s.value for s in Severity][::-1],
            "query": str(request.url.query),
            "base_query": _query_without_cursor(request),
        },
        signed=signed,
    )


@router.get("/queue/rows")
def queue_rows(signed: Reader, request: Request, session: Db) -> Response:
    """The table body alone: what the page's live refresh swaps in."""
    items, _, _ = _rows(request, session)
    return render(request, "queue_rows.html", {"items": items}, signed=signed)
