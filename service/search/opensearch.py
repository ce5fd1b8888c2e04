"""The OpenSearch backend: documents keyed by seq, queried by words, sorted by seq.

Text is tokenized by `index.words` before it reaches OpenSearch (documents and queries
alike), so the standard analyzer only has to lowercase single words. Answers carry
seqs only; the service re-reads events from the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import NotFoundError, RequestError, TransportError
from opensearchpy.helpers import bulk
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auditlog.schemas import EventFilters
from service.logformat import SERVER_SOURCE, format_time
from service.search.documents import KEYWORDS
from service.search.errors import SearchUnavailable
from service.search.index import Hits, query_terms, words
from service.search.models import SearchIndexState

MAPPINGS: dict[str, Any] = {
    # strict: a document the code did not mean to send is refused, not guessed at.
    "dynamic": "strict",
    "properties": {
        "seq": {"type": "long"},
        "text": {"type": "text"},
        # Fixed-width UTC text sorts as time, so ranges on a keyword are time ranges.
        **{k: {"type": "keyword"} for k in KEYWORDS},
    },
}


class OpenSearchIndex:
    name = "opensearch"

    def __init__(self, *, url: str, index: str, timeout: float = 10.0) -> None:
        self.index = index
        # No client-side retries: the indexer backs off itself, and a search answers 503.
        self.client = OpenSearch(hosts=[url], timeout=timeout, max_retries=0)

    def ensure_index(self) -> str:
        """Create the index if it is missing; return its uuid (changes if recreated)."""
        try:
            found = self.client.indices.get_settings(index=self.index)
        except NotFoundError:
            try:
                self.client.indices.create(index=self.index, body={"mappings": MAPPINGS})
            except RequestError as exc:  # another indexer created it first
                if "resource_already_exists" not in str(exc.error):
                    raise
            found = self.client.indices.get_settings(index=self.index)
        settings = next(iter(found.values()))["settings"]["index"]
        return str(settings["uuid"])

    def index_events(self, batch: Sequence[dict[str, Any]]) -> None:
        """Bulk-index with id = seq (a retry overwrites, never duplicates), then refresh so
        that everything acknowledged is searchable before the cursor moves past it.
        Raises TransportError or BulkIndexError if any document was not stored."""
        actions = ({"_index": self.index, "_id": str(d["seq"]), "_source": d} for d in batch)
        bulk(self.client, actions, chunk_size=1000, raise_on_error=True)
        self.client.indices.refresh(index=self.index)

    def search(
        self, *, session: Session, query: str, filters: EventFilters, after: int, limit: int
    ) -> Hits:
        text = " ".join(words(" ".join(query_terms(query))))
        if not text:
            return Hits(seqs=[], next_cursor=None)  # no word to look for
        body: dict[str, Any] = {
            "query": {
                "bool": {
                    "must": [
                        {"multi_match": {"query": text, "fields": ["text"], "operator": "and"}}
                    ],
                    "filter": _filter_clauses(filters),
                }
            },
            "sort": [{"seq": "asc"}],
            "size": limit + 1,
            "_source": False,
            "track_total_hits": False,
        }
        if after > 0:
            body["search_after"] = [after]
        try:
            found = self.client.search(index=self.index, body=body)
        except NotFoundError:
            return Hits(seqs=[], next_cursor=None)  # nothing indexed yet
        except TransportError as exc:
            raise SearchUnavailable(f"OpenSearch did not answer: {exc.error}") from exc
        seqs = [int(h["_id"]) for h in found["hits"]["hits"]]
        more = len(seqs) > limit
        seqs = seqs[:limit]
        return Hits(seqs=seqs, next_cursor=str(seqs[-1]) if more and seqs else None)

    def indexed_through(self, *, session: Session) -> int:
        cursor = session.execute(
            select(SearchIndexState.cursor).where(SearchIndexState.index_name == self.index)
        ).scalar_one_or_none()
        return int(cursor or 0)

    def healthy(self) -> bool:
        try:
            return bool(self.client.ping())
        except TransportError:
            return False

    def close(self) -> None:
        self.client.close()


def _filter_clauses(filters: EventFilters) -> list[dict[str, Any]]:
    """The /v1/events filters as term/prefix/range clauses (same meaning as queries.py)."""
    clauses: list[dict[str, Any]] = []
    exact = {
        "source": filters.source,
        "actor_id": filters.actor,
        "resource_type": filters.resource_type,
        "resource_id": filters.resource_id,
        "outcome": filters.outcome.value if filters.outcome else None,
    }
    clauses.extend({"term": {k: v}} for k, v in exact.items() if v)
    if filters.action:
        if filters.action.endswith("*"):
            clauses.append({"prefix": {"action": filters.action.rstrip("*")}})
        else:
            clauses.append({"term": {"action": filters.action}})
    when: dict[str, str] = {}
    if filters.since:
        when["gte"] = format_time(filters.since)
    if filters.until:
        when["lt"] = format_time(filters.until)
    if when:
        clauses.append({"range": {"time": when}})
    if not filters.own_reads:
        own = [{"term": {"source": SERVER_SOURCE}}, {"term": {"action": "audit.read"}}]
        clauses.append({"bool": {"must_not": [{"bool": {"filter": own}}]}})
    return clauses
