"""Concurrent ingest requests to one process take turns (CUSTODY_INGEST_CONCURRENCY):
every acknowledged event is stored once in one valid chain, and a refused body neither
stores anything nor keeps the others waiting."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from service.config import Settings
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
