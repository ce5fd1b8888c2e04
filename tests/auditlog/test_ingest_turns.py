"""Concurrent ingest requests to one process take turns (CUSTODY_INGEST_CONCURRENCY):
every acknowledged event is stored once in one valid chain, and a refused body neither
stores anything nor keeps the others waiting."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.auditlog.turns import IngestTurns
from service.config import Settings
from service.db import make_engine
from tests.auditlog.test_ingest_api import user_events
from tests.conftest import event

CLIENTS = 6
BATCHES = 5
PER_BATCH = 40


def test_concurrent_posts_all_land_in_one_chain(client: TestClient, app: Any) -> None:
    def post(worker: int) -> list[int]:
        codes = []
        for b in range(BATCHES):
            batch = [event(id=f"w{worker}-b{b}-{i}") for i in range(PER_BATCH)]
            codes.append(client.post("/v1/events", json=batch).status_code)
            if b == 2:
                # A shipper's retry of the same batch: duplicates, nothing new stored.
                again = client.post("/v1/events", json=batch).json()
                assert again["duplicates"] == PER_BATCH and again["accepted"] == 0
                bad = client.post("/v1/events", json=[event(id=f"bad-{worker}", time="soon")])
                assert bad.status_code == 422
                assert bad.headers["content-type"].startswith("application/problem+json")
        return codes

    with ThreadPoolExecutor(CLIENTS) as pool:
        # A turn never released (after the refused body, say) would hang the rest: bounded.
        futures = [pool.submit(post, w) for w in range(CLIENTS)]
        codes = [c for f in futures for c in f.result(timeout=120)]
    assert codes == [200] * CLIENTS * BATCHES
    assert user_events(app) == CLIENTS * BATCHES * PER_BATCH
    report = client.get("/v1/log/verify").json()
    assert report["ok"], report


def test_ingest_concurrency_must_be_positive() -> None:
    with pytest.raises(ValidationError, match="ingest_concurrency"):
        Settings(ingest_concurrency=0)
    assert Settings(ingest_concurrency=4).ingest_concurrency == 4


def test_a_body_refused_after_taking_the_write_turn_gives_it_back(
    client: TestClient, app: Any
) -> None:
    """A conflict is found under the chain-head lock, after the write turn was taken: the
    transaction is rolled back and the turn freed, so the next body is stored."""
    assert client.post("/v1/events", json=event(id="same", action="dataset.read")).is_success
    clash = client.post("/v1/events", json=[event(id="new-1"), event(id="same")])
    assert clash.status_code == 409
    with ThreadPoolExecutor(1) as pool:  # bounded: a turn kept would hang this post
        after = pool.submit(client.post, "/v1/events", json=event(id="new-2")).result(timeout=60)
    assert after.json()["accepted"] == 1
    assert user_events(app) == 2  # "new-1" went with its refused body


def test_the_next_body_is_worked_on_while_one_commits(tmp_path: Path) -> None:
    """SQLite: while a body's commit syncs to disk (the GIL is free), the next body takes
    the body turn; it starts writing only once that commit is done."""
    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    turns = IngestTurns(bodies=1, serial_writes=True)
    committing, finish_commit = threading.Event(), threading.Event()
    seen: list[str] = []

    def slow_commit(conn: Any) -> None:
        if not committing.is_set():
            committing.set()
            assert finish_commit.wait(30)
            seen.append("first committed")

    def body(n: int) -> None:
        with Session(engine) as session, turns.take() as turn:
            seen.append(f"body {n} turn")
            turn.write(session)
            seen.append(f"body {n} writes")
            session.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
            turn.commit(session)

    sa_event.listen(engine, "commit", slow_commit)
    try:
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(body, 1)
            assert committing.wait(30)
            second = pool.submit(body, 2)
            deadline = time.monotonic() + 30
            while "body 2 turn" not in seen and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.2)  # room for the second body to (wrongly) start writing
            finish_commit.set()
            first.result(timeout=30)
            second.result(timeout=30)
    finally:
        sa_event.remove(engine, "commit", slow_commit)
    assert seen == [
        "body 1 turn", "body 1 writes", "body 2 turn", "first committed", "body 2 writes",
    ]  # fmt: skip
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT n FROM t ORDER BY n").scalars().all() == [1, 2]
    engine.dispose()
