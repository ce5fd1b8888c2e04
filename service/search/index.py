"""The `SearchIndex` protocol every backend implements, and the terms a query has."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session

from service.auditlog.schemas import EventFilters

MAX_LIMIT = 1000
MAX_TERMS = 16
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True, slots=True)
class Hits:
    """Matching seqs in ascending order, and the cursor of the next page (None: last)."""

    seqs: list[int]
    next_cursor: str | None


class SearchIndex(Protocol):
    name: str

    def index_events(self, batch: Sequence[dict[str, Any]]) -> None:
        """Store documents (see documents.py); idempotent per seq."""

    def search(
        self, *, session: Session, query: str, filters: EventFilters, after: int, limit: int
    ) -> Hits:
        """Seqs > `after` matching every term of `query` and `filters`, at most `limit`."""
        ...

    def indexed_through(self, *, session: Session) -> int:
        """Last seq searchable through this index."""
        ...

    def healthy(self) -> bool: ...

    def close(self) -> None: ...


def query_terms(query: str) -> list[str]:
    """Whitespace-separated terms (bounded, so a query stays a bounded statement)."""
    return query.split()[:MAX_TERMS]


def words(text: str) -> list[str]:
    """Lowercased runs of letters and digits: how OpenSearch documents and queries are
    tokenized. Done here rather than by an index analyzer so every backend (and the
    in-memory test server) splits `model.weights.download` or `tokens_in` alike."""
    return _WORD.findall(text.lower())
