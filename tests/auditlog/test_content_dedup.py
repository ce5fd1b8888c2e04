"""Opt-in content dedup: a forwarder's retried chunk of id-less events is stored once."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.auth.schemas import Scope
from service.auth.service import create_token
from service.config import Settings
from service.db import session_scope
from tests.conftest import REPO, event


@pytest.fixture
def deduping(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        database_url=db_url,
        log_format="json",
        run_background=False,
        signing_key_path=tmp_path / "key.pem",
        rules_dir=REPO / "rules",
        runbooks_dir=REPO / "runbooks",
        content_dedup_sources=["fluent-bit"],
        content_dedup_window_seconds=2,
    )
    app = create_app(settings)
    with session_scope(app.state.sessionmaker) as session:
        secret = create_token(session=session, scope=Scope.admin).secret
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {secret}"
        yield client
    app.state.engine.dispose()


def chunk(source: str) -> bytes:
    """Fluent Bit's json_lines output: gzip NDJSON, events without ids."""
    items = [event(source=source, attributes={"n": i}) for i in range(5)]
    return gzip.compress(b"\n".join(orjson.dumps(e) for e in items) + b"\n")


def post(client: TestClient, body: bytes) -> Any:
    headers = {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
    r = client.post("/v1/events", content=body, headers=headers)
    assert r.status_code == 200, r.text
    return (r.json()["accepted"], r.json()["duplicates"])


def test_a_retried_chunk_is_stored_once_for_dedup_sources_only(deduping: TestClient) -> None:
    body = chunk("fluent-bit")
    assert post(deduping, body) == (5, 0)
    assert post(deduping, body) == (0, 5)  # the retry of a chunk whose answer was lost
    ids = stored_ids(deduping)
    assert len(ids) == 5 and all(i.startswith("content:") for i in ids)
    # Caught in the next window too: a retry may cross a window boundary.
    window = int(ids[0].rsplit(":", 1)[1])
    time.sleep(max(0.0, (window + 1) * 2 + 0.05 - time.time()))
    assert post(deduping, body) == (0, 5)
    assert len(stored_ids(deduping)) == 5
    other = chunk("another")  # not a dedup source: id-less events are always new
    assert post(deduping, other) == (5, 0)
    assert post(deduping, other) == (5, 0)
    assert deduping.get("/v1/log/verify").json()["ok"]


def stored_ids(client: TestClient) -> list[str]:
    answer = client.get("/v1/events", params={"source": "fluent-bit"}).json()
    items = answer["items"] if isinstance(answer, dict) else answer
    return [item["id"] for item in items]
