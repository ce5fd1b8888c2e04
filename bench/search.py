"""Search indexer throughput versus ingest throughput, measured in the same run.

    .venv/bin/python bench/search.py [--events 50000] [--backend sqlite|postgresql]
                                     [--batch 2000] [--opensearch-url URL]

1. Ingest: realistic events through POST /v1/events in-process (batches of 1000) into a
   scratch database.
2. Indexer: SearchIndexer.run_once until it has caught up, into an osmem-server started
   here (or --opensearch-url, e.g. the docker-compose OpenSearch; a scratch index is used).
3. Query latency (median of 20) of GET-equivalent searches on both backends.

Prints events/s of each and the indexer/ingest ratio (>= 1.0: search keeps up).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from osmem_server import OsmemServer  # noqa: E402

from bench.common import make_token, rate, realistic_events, scratch_database  # noqa: E402
from service.app import create_app  # noqa: E402
from service.auditlog.schemas import EventFilters  # noqa: E402
from service.config import Settings  # noqa: E402
from service.db import database  # noqa: E402
from service.search.index import SearchIndex  # noqa: E402
from service.search.indexer import SearchIndexer  # noqa: E402
from service.search.opensearch import OpenSearchIndex  # noqa: E402
from service.search.service import search_events  # noqa: E402
from service.search.sql import SqlSearchIndex  # noqa: E402

QUERIES = [("user42", EventFilters()), ("llm-7 denied", EventFilters(action="model.*"))]


def ingest(url: str, n: int) -> float:
    app = create_app(Settings(database_url=url, run_background=False, log_level="WARNING"))
    events = realistic_events(n)
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {make_token(url)}"
        began = time.perf_counter()
        for i in range(0, n, 1000):
            client.post("/v1/events", json=events[i : i + 1000]).raise_for_status()
        seconds = time.perf_counter() - began
    app.state.engine.dispose()
    return seconds


def index(url: str, os_url: str, batch: int) -> tuple[float, OpenSearchIndex]:
    target = OpenSearchIndex(url=os_url, index=f"custody-bench-{uuid.uuid4().hex[:8]}")
    indexer = SearchIndexer(index=target, batch=batch)
    with database(url) as factory:
        began = time.perf_counter()
        while indexer.run_once(factory):
            pass
        seconds = time.perf_counter() - began
    if indexer.failures:
        raise SystemExit(f"indexer failed: {indexer.last_error}")
    return seconds, target


def query_ms(url: str, backend: SearchIndex) -> float:
    times = []
    with database(url) as factory, factory() as session:
        for _ in range(20):
            for q, filters in QUERIES:
                began = time.perf_counter()
                search_events(session=session, index=backend, query=q, filters=filters)
                times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--opensearch-url")
    args = parser.parse_args()
    server = None if args.opensearch_url else OsmemServer.start(japanese=False)
    os_url = args.opensearch_url or server.url  # type: ignore[union-attr]
    try:
        with scratch_database(args.backend) as url:
            ingest_s = ingest(url, args.events)
            index_s, target = index(url, os_url, args.batch)
            print(f"ingest   {rate(args.events, ingest_s)}  ({args.backend})")
            print(f"indexer  {rate(args.events, index_s)}  (batch {args.batch})")
            print(f"ratio    {ingest_s / index_s:>10.2f}  indexer/ingest")
            print(f"query    {query_ms(url, SqlSearchIndex()):>10.1f} ms median  (sql)")
            print(f"query    {query_ms(url, target):>10.1f} ms median  (opensearch)")
            target.close()
    finally:
        if server is not None:
            server.close()


if __name__ == "__main__":
    main()
