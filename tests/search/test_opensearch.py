"""The OpenSearch backend against a real osmem-server: indexer, equality with the SQL
backend, idempotent re-indexing, and ingest that never waits for OpenSearch."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from service.auditlog.chain import read_head
from service.auditlog.schemas import EventFilters, Outcome
from service.config import Settings
from service.db import session_scope
from service.search import state
from service.search.indexer import SearchIndexer
from service.search.opensearch import OpenSearchIndex
from service.search.service import search_events
from service.search.sql import SqlSearchIndex
from service.worker import build_tasks
from tests.conftest import event
from tests.search.conftest import Osmem, seed

QUERIES: list[tuple[str, EventFilters]] = [
    ("alice", EventFilters()),
    ("exfiltrate", EventFilters()),
    ("exfiltrate bob", EventFilters()),
    ("llm-prod", EventFilters(action="model.*", outcome=Outcome.success)),
    ("req-17", EventFilters()),
    ("alice", EventFilters(actor="Alice@example.com", resource_id="llm-dev")),
    ("summarize", EventFilters(source="inference-gateway", resource_type="model")),
    ("example", EventFilters(action="dataset.read")),
    ("nothing-like-this", EventFilters()),
]


@pytest.fixture
def index_name() -> str:
    return f"custody-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def server(request: pytest.FixtureRequest, shared_osmem: Osmem) -> Osmem:
    """The shared server, or (parametrized "own") one this test may stop."""
    if getattr(request, "param", None) == "own":
        own: Osmem = request.getfixturevalue("osmem")
        return own
    return shared_osmem


@pytest.fixture
def settings(settings: Settings, server: Osmem, index_name: str) -> Settings:
    return settings.model_copy(
        update={
            "search_backend": "opensearch",
            "opensearch_url": server.url,
            "opensearch_index": index_name,
        }
    )


@pytest.fixture
def indexer(settings: Settings) -> Iterator[SearchIndexer]:
    index = OpenSearchIndex(url=settings.opensearch_url, index=settings.opensearch_index)
    task = SearchIndexer(index=index, batch=10, check_every=0.0)
    yield task
    index.close()


@pytest.fixture
def app(app: Any) -> Iterator[Any]:
    yield app
    index = getattr(app.state, "search_index", None)
    if index is not None:
        index.close()


def catch_up(indexer: SearchIndexer, sessions: sessionmaker[Session]) -> int:
    runs = 0
    while indexer.run_once(sessions):
        runs += 1
        assert runs < 100
    return runs


def head(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return read_head(session)[0]


def indexed_seqs(indexer: SearchIndexer) -> list[int]:
    client, name = indexer.index.client, indexer.index.index
    found = client.search(
        index=name, body={"query": {"match_all": {}}, "sort": [{"seq": "asc"}], "size": 10_000}
    )
    return [int(h["_id"]) for h in found["hits"]["hits"]]


def test_worker_runs_the_indexer_only_for_opensearch(settings: Settings) -> None:
    assert "search-indexer" in [t.name for t in build_tasks(settings)]
    sql = settings.model_copy(update={"search_backend": "sql"})
    assert "search-indexer" not in [t.name for t in build_tasks(sql)]


def test_indexer_catches_up_and_answers_like_the_sql_backend(
    client: TestClient, sessions: sessionmaker[Session], indexer: SearchIndexer
) -> None:
    seed(client)
    catch_up(indexer, sessions)
    assert indexed_seqs(indexer) == list(range(1, head(sessions) + 1))
    sql, opensearch = SqlSearchIndex(), indexer.index
    with sessions() as session:
        assert opensearch.indexed_through(session=session) == head(sessions)
        for query, filters in QUERIES:
            for limit in (3, 1000):
                after, pages = 0, 0
                while True:
                    want = search_events(
                        session=session,
                        index=sql,
                        query=query,
                        filters=filters,
                        after=after,
                        limit=limit,
                    )
                    got = search_events(
                        session=session,
                        index=opensearch,
                        query=query,
                        filters=filters,
                        after=after,
                        limit=limit,
                    )
                    assert got.items == want.items, (query, filters)
                    assert got.next_cursor == want.next_cursor
                    if want.next_cursor is None:
                        break
                    after, pages = int(want.next_cursor), pages + 1
                assert pages < 20
    assert opensearch.healthy()


def test_api_answers_from_the_database_with_indexed_through(
    client: TestClient, sessions: sessionmaker[Session], indexer: SearchIndexer
) -> None:
    seed(client)
    catch_up(indexer, sessions)
    through = head(sessions)
    r = client.get("/v1/search", params={"q": "exfiltrate", "limit": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [e["id"] for e in body["items"]] == ["s0", "s5"]
    assert body["indexed_through"] == through
    first = body["items"][0]
    assert first == client.get(f"/v1/events/{first['seq']}").json() | {"raw": None}
    nxt = client.get(
        "/v1/search", params={"q": "exfiltrate", "limit": 2, "cursor": body["next_cursor"]}
    ).json()
    assert [e["id"] for e in nxt["items"]] == ["s10", "s15"]
    # Not indexed yet: absent, and indexed_through says so.
    client.post("/v1/events", json=event(id="late", attributes={"prompt": "exfiltrate"}))
    late = client.get("/v1/search", params={"q": "exfiltrate", "cursor": nxt["next_cursor"]}).json()
    assert [e["id"] for e in late["items"]] == ["s20"]
    assert late["indexed_through"] == through


def test_reindexing_is_idempotent(
    client: TestClient, sessions: sessionmaker[Session], indexer: SearchIndexer
) -> None:
    seed(client)
    catch_up(indexer, sessions)
    before = indexed_seqs(indexer)
    with session_scope(sessions) as session:
        current = state.read_state(session=session, index_name=indexer.index.index)
        assert current.index_uuid is not None
        state.restart(
            session=session, index_name=indexer.index.index, index_uuid=current.index_uuid
        )
    catch_up(indexer, sessions)
    assert indexed_seqs(indexer) == before == list(range(1, head(sessions) + 1))


@pytest.mark.parametrize("server", ["own"], indirect=True)
def test_opensearch_down_never_blocks_ingest(
    client: TestClient, sessions: sessionmaker[Session], indexer: SearchIndexer, server: Osmem
) -> None:
    seed(client)
    catch_up(indexer, sessions)
    before = head(sessions)
    now = [1000.0]
    indexer.clock = lambda: now[0]
    server.stop()

    r = client.post("/v1/events", json=[event(id=f"down{i}") for i in range(5)])
    assert r.status_code == 200 and r.json()["accepted"] == 5
    assert [
        e["id"] for e in client.get("/v1/events", params={"after_seq": before}).json()["items"]
    ][:5] == [f"down{i}" for i in range(5)]

    # The indexer reports, backs off, and keeps its cursor.
    assert indexer.run_once(sessions) is False
    assert indexer.failures == 1 and indexer.last_error
    assert indexer.retry_at == now[0] + 1.0
    assert indexer.run_once(sessions) is False and indexer.failures == 1  # waiting
    now[0] += 1.0
    assert indexer.run_once(sessions) is False and indexer.failures == 2
    assert indexer.retry_at == now[0] + 2.0
    with sessions() as session:
        assert indexer.index.indexed_through(session=session) == before
    assert not indexer.index.healthy()
    r = client.get("/v1/search", params={"q": "alice"})
    assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"

    # Back (empty: osmem keeps nothing across a restart): refilled from seq 1, no gap.
    server.start()
    client.post("/v1/events", json=event(id="after"))
    for _ in range(20):
        now[0] += 60.0
        indexer.run_once(sessions)
        with sessions() as session:
            if indexer.index.indexed_through(session=session) == head(sessions):
                break
    catch_up(indexer, sessions)
    assert indexer.failures == 0 and indexer.last_error is None
    assert indexed_seqs(indexer) == list(range(1, head(sessions) + 1))
    found = client.get("/v1/search", params={"q": "alice", "source": "inference-gateway"})
    assert [e["id"] for e in found.json()["items"]][-6:] == [f"down{i}" for i in range(5)] + [
        "after"
    ]


def test_erasure_reaches_the_opensearch_copy(
    client: TestClient, sessions: sessionmaker[Session], indexer: SearchIndexer
) -> None:
    seed(client)
    catch_up(indexer, sessions)
    events = client.get("/v1/events", params={"limit": 100}).json()["items"]
    seqs = {e["id"]: e["seq"] for e in events}
    opensearch = indexer.index

    def hits(query: str) -> list[int]:
        with sessions() as session:
            return opensearch.search(
                session=session, query=query, filters=EventFilters(), after=0, limit=100
            ).seqs

    assert seqs["s5"] in hits("exfiltrate")
    r = client.post(f"/v1/events/{seqs['s5']}/erase", json={"reason": "subject request"})
    assert r.status_code == 200, r.text
    # Until the indexer follows the log to the erase record, OpenSearch still holds the text.
    assert seqs["s5"] in hits("exfiltrate")
    catch_up(indexer, sessions)
    assert seqs["s5"] not in hits("exfiltrate")
    assert [s for s in hits("exfiltrate") if s <= head(sessions)] == [
        seqs[i] for i in ("s0", "s10", "s15", "s20")
    ]
    stored = opensearch.client.get(index=opensearch.index, id=str(seqs["s5"]))["_source"]
    assert "exfiltrate" not in stored["text"] and "req" in stored["text"]
    assert hits("req-5") == [seqs["s5"]]  # the record itself is still searchable
    with sessions() as session:  # and both backends now answer alike
        for query in ("exfiltrate", "weights"):
            sql = search_events(
                session=session, index=SqlSearchIndex(), query=query, filters=EventFilters()
            )
            found = search_events(
                session=session, index=opensearch, query=query, filters=EventFilters()
            )
            assert found.items == sql.items
