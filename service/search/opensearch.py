"""The OpenSearch backend: documents keyed by seq, queried by words, sorted by seq.

Text is tokenized by `index.words` before it reaches OpenSearch (documents and queries
alike), so the standard analyzer only has to lowercase single words. Answers carry
seqs only; the service re-reads events from the database.

The configured name is a write alias over `<name>-000001`, `-000002`... (lifecycle.py
installs the template, the ISM policy and the first index); an index of that very name,
made by an older Custody, keeps working as it is until it is migrated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import NotFoundError, RequestError, TransportError
from opensearchpy.helpers import bulk
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auditlog.schemas import EventFilters
from service.logformat import SERVER_SOURCE, format_time
from service.search import lifecycle
from service.search.errors import SearchUnavailable
from service.search.index import Hits, query_terms, words
from service.search.lifecycle import Installed, Layout
from service.search.models import SearchIndexState

MAPPINGS: dict[str, Any] = lifecycle.mappings()


@dataclass(frozen=True, slots=True)
class Backing:
    """The indices behind the name: the one writes go to, and all of their uuids."""

    write_uuid: str
    uuids: frozenset[str]


class OpenSearchIndex:
    name = "opensearch"

    def __init__(
        self, *, url: str, index: str, layout: Layout | None = None, timeout: float = 10.0
    ) -> None:
        self.index = index
        self.layout = layout or Layout(alias=index)
        # No client-side retries: the indexer backs off itself, and a search answers 503.
        self.client = OpenSearch(hosts=[url], timeout=timeout, max_retries=0)
        self._installed = False

    def install(self) -> Installed:
        installed = lifecycle.install(self.client, self.layout)
        self._installed = True
        return installed

    def ensure_index(self) -> Backing:
        """Install the layout once per process (so changed settings reach the template)
        and again whenever the name is gone (a cluster emptied, an index deleted)."""
        if not self._installed:
            self.install()
        found = self._backing()
        if found is None:
            self.install()
            found = self._backing()
            if found is None:
                raise NotFoundError(404, "index_not_found", f"{self.index} vanished again")
        return found

    def _backing(self) -> Backing | None:
        try:
            found = self.client.indices.get_settings(index=self.index)
            aliases = self.client.indices.get_alias(index=self.index)
        except NotFoundError:
            return None
        uuids = {name: str(v["settings"]["index"]["uuid"]) for name, v in found.items()}
        if len(uuids) == 1:  # the first index, or a legacy index of that very name
            return Backing(write_uuid=next(iter(uuids.values())), uuids=frozenset(uuids.values()))
        writes = [
            name
            for name, v in aliases.items()
            if (v.get("aliases", {}).get(self.index) or {}).get("is_write_index")
        ]
        if len(writes) != 1:
            raise RequestError(400, "no_write_index", f"{self.index} has no single write index")
        return Backing(write_uuid=uuids[writes[0]], uuids=frozenset(uuids.values()))

    def index_events(self, batch: Sequence[dict[str, Any]]) -> None:
        """Bulk-index with id = seq (a retry overwrites, never duplicates), then refresh so
        that everything acknowledged is searchable before the cursor moves past it.
        A seq already stored goes back to the index holding it, even after a rollover, so
        a re-indexed (erased) event replaces its old text instead of sitting next to it.
        Each bulk ends with a refresh, so the lookup sees every stored seq, and a rollover
        after it changes nothing: those writes name their concrete index. (Only documents a
        failed bulk stored without the refresh can escape it, if a rollover follows.)
        Raises TransportError or BulkIndexError if any document was not stored."""
        held = self._held_in([d["seq"] for d in batch])
        actions = (
            {"_index": held.get(d["seq"], self.index), "_id": str(d["seq"]), "_source": d}
            for d in batch
        )
        bulk(self.client, actions, chunk_size=1000, raise_on_error=True)
        self.client.indices.refresh(index=self.index)

    def _held_in(self, seqs: Sequence[int]) -> dict[int, str]:
        """Which concrete index holds each of these seqs already (one ids query per 5000)."""
        held: dict[int, str] = {}
        for start in range(0, len(seqs), 5000):
            chunk = [str(s) for s in seqs[start : start + 5000]]
            try:
                found = self.client.search(
                    index=self.index,
                    body={
                        "query": {"ids": {"values": chunk}},
                        "_source": False,
                        "size": len(chunk),
                    },
                )
            except NotFoundError:
                return held
            held.update({int(h["_id"]): h["_index"] for h in found["hits"]["hits"]})
        return held

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
