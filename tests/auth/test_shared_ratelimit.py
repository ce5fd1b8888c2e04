"""Rate limits are one budget per token across API replicas on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from service.app import create_app
from service.auth.schemas import Scope
from service.auth.service import create_token
from service.config import Settings
from service.db import session_scope


def test_two_replicas_share_one_budget(pg_url: str, tmp_path: Path) -> None:
    settings = Settings(
        database_url=pg_url,
        log_format="json",
        run_background=False,
        signing_key_path=tmp_path / "key.pem",
        rate_limit_per_minute=6,  # a burst of 6, then one every 10 s
    )
    replicas = [create_app(settings), create_app(settings)]  # two processes' state
    with session_scope(replicas[0].state.sessionmaker) as session:
        secret = create_token(session=session, scope=Scope.read).secret
    clients = [TestClient(app) for app in replicas]
    headers = {"Authorization": f"Bearer {secret}"}
    statuses = [clients[i % 2].get("/v1/log/head", headers=headers).status_code for i in range(8)]
    # Per-process buckets would have let 12 through; the shared one lets 6.
    assert statuses == [200] * 6 + [429] * 2
    refused = clients[1].get("/v1/log/head", headers=headers)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 10
    for client, app in zip(clients, replicas, strict=True):
        client.close()
        app.state.engine.dispose()


def test_buckets_cost_no_wal_flush(pg_url: str) -> None:
    """Every request takes a token: the buckets table is unlogged, so a take does not wait
    for a WAL flush (a crash only refills budgets)."""
    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            kind = conn.execute(
                text("SELECT relpersistence FROM pg_class WHERE relname = 'rate_buckets'")
            ).scalar_one()
    finally:
        engine.dispose()
    assert kind == "u"
