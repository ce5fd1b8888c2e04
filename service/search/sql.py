"""The SQL backend: searches the log tables directly, so it never lags the log.

Each whitespace-separated term must occur, case-insensitively, as a substring of one of
the text columns. LIKE with an escape character: `%` and `_` in a query are literal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, or_
from sqlalchemy.orm import Session

from service.auditlog.chain import read_head
from service.auditlog.models import LogRecord
from service.auditlog.queries import filtered
from service.auditlog.schemas import EventFilters
from service.search.documents import TEXT_COLUMNS
from service.search.index import Hits, query_terms


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class SqlSearchIndex:
    name = "sql"

    def index_events(self, batch: Sequence[dict[str, Any]]) -> None:
        """Nothing to do: the log tables are the index."""

    def search(
        self, *, session: Session, query: str, filters: EventFilters, after: int, limit: int
    ) -> Hits:
        stmt = filtered(filters, after_seq=after).with_only_columns(LogRecord.seq)
        clauses = []
        for term in query_terms(query):
            pattern = f"%{_escape_like(term.lower())}%"
            clauses.append(or_(*(func.lower(c).like(pattern, escape="\\") for c in TEXT_COLUMNS)))
        if clauses:
            stmt = stmt.where(and_(*clauses))
        seqs = list(session.execute(stmt.limit(limit + 1)).scalars())
        more = len(seqs) > limit
        seqs = seqs[:limit]
        return Hits(seqs=seqs, next_cursor=str(seqs[-1]) if more and seqs else None)

    def indexed_through(self, *, session: Session) -> int:
        return read_head(session)[0]

    def healthy(self) -> bool:
        return True

    def close(self) -> None:
        """No resources of its own."""
