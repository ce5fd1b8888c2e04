"""Search use cases: pick the backend, answer a page from the database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row
from sqlalchemy.orm import Session

from service.auditlog.models import LogRecord
from service.auditlog.queries import filtered, to_public
from service.auditlog.schemas import EventFilters, EventOut
from service.config import Settings
from service.search.index import MAX_LIMIT, SearchIndex
from service.search.lifecycle import Layout
from service.search.opensearch import OpenSearchIndex
from service.search.schemas import SearchPage
from service.search.sql import SqlSearchIndex


def build_index(settings: Settings) -> SearchIndex:
    if settings.search_backend == "opensearch":
        return OpenSearchIndex(
            url=settings.opensearch_url,
            index=settings.opensearch_index,
            layout=Layout.from_settings(settings),
        )
    return SqlSearchIndex()


def search_events(
    *,
    session: Session,
    index: SearchIndex,
    query: str,
    filters: EventFilters,
    after: int = 0,
    limit: int = 100,
    include_raw: bool = False,
) -> SearchPage:
    """One page of matches. The index only names seqs; every event shown (hash, payload)
    is read from the database, the system of record."""
    # Read first: everything up to it was searchable when the query ran.
    through = index.indexed_through(session=session)
    hits = index.search(
        session=session,
        query=query,
        filters=filters,
        after=after,
        limit=max(1, min(limit, MAX_LIMIT)),
    )
    rows: Sequence[Row[Any]] = ()
    if hits.seqs:
        rows = session.execute(filtered(EventFilters()).where(LogRecord.seq.in_(hits.seqs))).all()
    return SearchPage(
        items=[EventOut(**to_public(r, include_raw=include_raw)) for r in rows],
        next_cursor=hits.next_cursor,
        indexed_through=through,
    )
