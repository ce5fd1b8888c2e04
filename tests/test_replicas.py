"""Three `custody serve` processes on one PostgreSQL database, as behind a load
balancer: concurrent writers through all of them, one killed with kill -9 midway. One
gapless valid chain, every acknowledged event stored once, no request stuck."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from bench.common import make_token
from service.auditlog.models import LogRecord
from service.db import database
from tests.client.live import Server
from tests.client.test_ship_live import wait_for
from tests.conftest import event

CLIENTS, BATCHES, SIZE = 6, 15, 100


@pytest.fixture
def replicas(pg_url: str, tmp_path: Path) -> Iterator[list[Server]]:
    servers = []
    for i in range(3):
        folder = tmp_path / f"replica{i}"
        folder.mkdir()
        servers.append(Server(pg_url, folder))
        servers[-1].start()
    yield servers
    for server in servers:
        server.stop()


def stored(pg_url: str) -> tuple[int, int, int, int, int]:
    """(rows, distinct seq, min seq, max seq, distinct ids of the test source)."""
    with database(pg_url) as factory, factory() as session:
        rows, seqs, low, high = session.execute(
            select(
                func.count(),
                func.count(func.distinct(LogRecord.seq)),
                func.min(LogRecord.seq),
                func.max(LogRecord.seq),
            )
        ).one()
        ids = session.execute(
            select(func.count(func.distinct(LogRecord.event_id))).where(
                LogRecord.source == "replicas"
            )
        ).scalar_one()
        return int(rows), int(seqs), int(low), int(high), int(ids)


def test_three_replicas_one_chain_with_one_killed(pg_url: str, replicas: list[Server]) -> None:
    token = make_token(pg_url)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    acknowledged: list[int] = []
    failures: list[str] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        target = number % 3
        with httpx.Client(headers=headers, timeout=60) as http:
            for b in range(BATCHES):
                body = b"\n".join(
                    orjson.dumps(event(id=f"c{number}-b{b}-{i}", source="replicas"))
                    for i in range(SIZE)
                )
                for _attempt in range(6):  # a load balancer's failover, client side
                    try:
                        r = http.post(f"{replicas[target].url}/v1/events", content=body)
                    except httpx.TransportError:
                        target = (target + 1) % 3
                        continue
                    if r.status_code != 200:
                        with lock:
                            failures.append(f"{r.status_code} {r.text[:200]}")
                        return
                    with lock:
                        acknowledged.append(r.json()["accepted"] + r.json()["duplicates"])
                    break
                else:
                    with lock:
                        failures.append("no replica answered")
                    return
                target = (target + 1) % 3

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(acknowledged) >= CLIENTS * BATCHES // 3)
    replicas[0].kill()  # mid-ingest
    for thread in threads:
        thread.join(120)
        assert not thread.is_alive(), "a writer is stuck (deadlock?)"
    assert failures == []
    total = CLIENTS * BATCHES * SIZE
    assert sum(acknowledged) == total
    rows, seqs, low, high, ids = stored(pg_url)
    assert ids == total  # every event once
    assert (seqs, low, high) == (rows, 1, rows)  # gapless, no seq twice
    report = replicas[1].get(token, "/v1/log/verify")
    assert report["ok"], report
