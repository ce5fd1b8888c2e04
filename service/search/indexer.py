"""The search indexer: a BackgroundTask that follows the log into OpenSearch.

It runs after commit and outside every write: it reads committed records past its
cursor, bulk-indexes them, and only once OpenSearch acknowledged (and refreshed) moves
the cursor. When OpenSearch is down it logs, backs off exponentially and tries again
later; ingest never waits for it, and nothing is skipped because the cursor did not move.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from opensearchpy.exceptions import TransportError
from opensearchpy.helpers import BulkIndexError
from sqlalchemy.orm import Session, sessionmaker

from service.auditlog.chain import read_head
from service.config import Settings
from service.db import session_scope
from service.logging import get_logger
from service.search import state
from service.search.documents import documents_of, erased_seqs, read_documents
from service.search.lifecycle import Layout
from service.search.opensearch import OpenSearchIndex

log = get_logger(__name__)


class SearchIndexer:
    name = "search-indexer"

    def __init__(
        self,
        *,
        index: OpenSearchIndex,
        batch: int = 2000,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        check_every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.index = index
        self.batch = batch
        self.backoff = backoff
        self.max_backoff = max_backoff
        # While idle, look this often whether the index was lost or recreated.
        self.check_every = check_every
        self.clock = clock
        self.failures = 0
        self.last_error: str | None = None
        self.retry_at = 0.0
        self._checked_at = -float("inf")

    def run_once(self, factory: sessionmaker[Session]) -> bool:
        if self.clock() < self.retry_at:
            return False
        try:
            busy = self._step(factory)
        except (TransportError, BulkIndexError) as exc:
            self._failed(exc)
            return False
        if self.failures:
            log.info("search.index_recovered", after_failures=self.failures)
            self.failures, self.last_error = 0, None
        return busy

    def _step(self, factory: sessionmaker[Session]) -> bool:
        name = self.index.index
        # Read-only look (no write lock on SQLite): an idle poll must not contend with ingest.
        with factory() as session:
            current = state.read_state(session=session, index_name=name)
            docs = []
            if read_head(session)[0] > current.cursor:
                docs = read_documents(session=session, after_seq=current.cursor, limit=self.batch)
            # Erasure reaches this copy too: the erased events, indexed earlier with their
            # payload, are indexed again as they are now, in the same bulk request.
            erased = documents_of(session=session, seqs=erased_seqs(docs))
        now = self.clock()
        if not docs and now - self._checked_at < self.check_every:
            return False
        backing = self.index.ensure_index()
        self._checked_at = now
        uuid = backing.write_uuid
        if current.index_uuid not in backing.uuids:
            # A new, recreated or lost index holds nothing we can vouch for: refill it.
            with session_scope(factory) as session:
                state.restart(session=session, index_name=name, index_uuid=uuid)
            log.info("search.index_restart", index=name, index_uuid=uuid, was=current.cursor)
            return True
        if uuid != current.index_uuid:
            # A rollover: the index we vouched for is still behind the alias, so the cursor
            # holds; follow the write index so that the one we track outlives retention.
            with session_scope(factory) as session:
                state.follow(session=session, index_name=name, old=current.index_uuid, new=uuid)
            log.info("search.index_rolled_over", index=name, index_uuid=uuid)
            return True
        if not docs:
            return False
        self.index.index_events(docs + erased)
        if erased:
            log.info("search.reindexed_erased", seqs=[d["seq"] for d in erased])
        with session_scope(factory) as session:
            state.advance(
                session=session,
                index_name=name,
                index_uuid=uuid,
                old=current.cursor,
                new=docs[-1]["seq"],
            )
        return True

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        delay = min(self.max_backoff, self.backoff * 2 ** (self.failures - 1))
        self.retry_at = self.clock() + delay
        self.last_error = str(exc)[:300]
        log.warning(
            "search.index_unavailable",
            index=self.index.index,
            failures=self.failures,
            retry_in_s=delay,
            error=self.last_error,
        )


def build(settings: Settings) -> SearchIndexer | None:
    if settings.search_backend != "opensearch":
        return None  # the SQL backend reads the log directly
    index = OpenSearchIndex(
        url=settings.opensearch_url,
        index=settings.opensearch_index,
        layout=Layout.from_settings(settings),
    )
    return SearchIndexer(index=index, batch=settings.search_index_batch)
