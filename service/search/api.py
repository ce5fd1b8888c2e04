"""Route of the search domain: GET /v1/search."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from service.auditlog.api import event_filters
from service.auditlog.schemas import MAX_SEQ, EventFilters
from service.auth.audit import audit_read
from service.auth.deps import require
from service.auth.schemas import Principal, Scope
from service.deps import get_session
from service.errors import InvalidInput
from service.search.index import MAX_LIMIT, SearchIndex
from service.search.schemas import SearchPage
from service.search.service import build_index, search_events

router = APIRouter(prefix="/v1", tags=["search"])
_lock = threading.Lock()


def get_search_index(request: Request) -> SearchIndex:
    """The app's backend, built on first use (one client and pool per app)."""
    state = request.app.state
    with _lock:
        index: SearchIndex | None = getattr(state, "search_index", None)
        if index is None:
            index = state.search_index = build_index(state.settings)
    return index


def _after(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not cursor.isdigit() or int(cursor) > MAX_SEQ:
        raise InvalidInput(
            "cursor is not a next_cursor value",
            errors=[{"field": "cursor", "message": "not a cursor"}],
        )
    return int(cursor)


@router.get("/search", response_model=SearchPage)
def get_search(
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=1024, description="words to find")],
    principal: Principal = Depends(require(Scope.read)),
    filters: EventFilters = Depends(event_filters),
    cursor: Annotated[
        str | None, Query(pattern=r"^[0-9]{1,18}$", description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    include_raw: bool = False,
    include_audit: Annotated[
        bool,
        Query(
            description="also match Custody's own audit.read records (each read, query "
            "included, is one); left out by default so a search never finds its own echo"
        ),
    ] = False,
    session: Session = Depends(get_session),
    index: SearchIndex = Depends(get_search_index),
) -> SearchPage:
    after = _after(cursor)
    audit_read(session=session, request=request, principal=principal)
    session.commit()  # the read is on the record before anything is answered
    return search_events(
        session=session,
        index=index,
        query=q,
        filters=filters.model_copy(update={"own_reads": include_audit}),
        after=after,
        limit=limit,
        include_raw=include_raw,
    )
