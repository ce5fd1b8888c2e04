"""The log partitioned by seq on PostgreSQL: migration of a populated log, appends
across partition boundaries (also as the runtime role), partitions made ahead."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from service import migrate
from service.app import create_app
from service.auditlog.verify import verify_chain
from service.cli import app as cli
from service.config import Settings
from service.db import database, session_scope
from service.retention.task import PartitionTask
from tests.archive.conftest import PARTITION, Log, create_token_session, partitions, pg
from tests.conftest import event


def test_migration_partitions_a_populated_log_and_the_chain_still_verifies(
    pg_url: str, tmp_path: Path
) -> None:
    # A populated log on plain tables: fill it, take it back to 0018, then upgrade.
    settings = Settings(database_url=pg_url, signing_key_path=tmp_path / "k.pem")
    app = create_app(settings)
    with create_token_session(app) as secret, TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {secret}"
        body = [event(id=f"m{i}") for i in range(40)]
        assert client.post("/v1/events", json=body).json()["accepted"] == 40
    app.state.engine.dispose()
    command.downgrade(migrate.alembic_config(pg_url), "0018")
    with pg(pg_url) as conn:
        kind = conn.execute("SELECT relkind FROM pg_class WHERE relname = 'log_records'")
        assert kind.fetchone() == ("r",)  # plain again
        assert conn.execute("SELECT count(*) FROM log_records").fetchone() == (41,)

    migrate.upgrade(pg_url)
    with pg(pg_url) as conn:
        kinds = conn.execute(
            "SELECT relname, relkind FROM pg_class WHERE relname IN ('log_records', 'log_payloads')"
        ).fetchall()
        assert sorted(kinds) == [("log_payloads", "p"), ("log_records", "p")]
        assert conn.execute("SELECT count(*) FROM log_records").fetchone() == (41,)
        assert conn.execute("SELECT count(*) FROM log_event_ids").fetchone() == (40,)
    # The rows' partition and a spare one ahead of the head.
    assert partitions(pg_url) == ["log_records_s000000000001", "log_records_s000001000001"]
    with database(pg_url) as factory, session_scope(factory) as session:
        report = verify_chain(session=session)
    assert report.ok and report.checked == 41
    migrate.check(pg_url)  # the models still agree with the schema

    app = create_app(settings)
    with create_token_session(app) as secret, TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {secret}"
        # Idempotency keys came across: a resend is a duplicate, new content a conflict.
        again = client.post("/v1/events", json=[event(id="m3")]).json()
        assert again["accepted"] == 0 and again["duplicates"] == 1
        changed = client.post("/v1/events", json=[event(id="m3", action="model.read")])
        assert changed.status_code == 409
        assert client.get("/v1/log/verify").json()["ok"]
    app.state.engine.dispose()


def test_appends_cross_partition_boundaries(log: Log) -> None:
    log.ingest(45, batch=7)  # the token record, then 45 events: seqs 1..46
    assert log.head() == 46
    made = partitions(log.settings.database_url)
    # The append path made them as it went (no worker ran): 46 seqs, size 10.
    assert made[:5] == [f"log_records_s{n:012d}" for n in (1, 11, 21, 31, 41)]
    verified = log.client.get("/v1/log/verify").json()
    assert verified["ok"] and verified["checked"] == 46
    with pg(log.settings.database_url) as conn:
        per = conn.execute(
            "SELECT tableoid::regclass::text, count(*) FROM log_records GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert [count for _, count in per] == [10, 10, 10, 10, 6]
    seqs = [e["seq"] for e in log.client.get("/v1/events?limit=100").json()["items"]]
    assert seqs == list(range(1, 48))  # and the audit.read record of this read


def test_the_runtime_role_appends_across_boundaries(
    small_url: str, small_settings: Settings, runtime_role: str
) -> None:
    """It has no DDL rights: partitions come from the SECURITY DEFINER function."""
    result = CliRunner().invoke(
        cli, ["db", "roles", "--runtime-role", runtime_role],
        env={"CUSTODY_DATABASE_URL": small_url},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    runtime = make_url(small_url).set(username=runtime_role).render_as_string(hide_password=False)
    settings = small_settings.model_copy(update={"database_url": runtime})
    app = create_app(settings)
    with create_token_session(app) as secret, TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {secret}"
        log = Log(settings, client, app)
        log.ingest(30, batch=9)
        assert log.head() == 31
        assert client.get("/v1/log/verify").json()["ok"]
        with pg(runtime) as conn:  # and it cannot drop one itself
            failed = conn.execute("SELECT has_table_privilege('log_records', 'DELETE')")
            assert failed.fetchone() == (False,)
    app.state.engine.dispose()
    with pg(small_url) as conn:
        owners = conn.execute(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE tablename LIKE 'log_records_s%'"
        ).fetchall()
    assert owners == [("postgres",)]  # made by the function, owned by the owner


def test_worker_task_keeps_a_partition_ahead(log: Log) -> None:
    log.ingest(5)
    task = PartitionTask(PARTITION, every=0.0)
    assert task.run_once(log.sessions)  # made the next one: head 6 + 10 needs s11
    assert not task.run_once(log.sessions)
    assert partitions(log.settings.database_url) == [
        "log_records_s000000000001",
        "log_records_s000000000011",
    ]


def test_runtime_role_cannot_ask_for_partitions_far_ahead(log: Log) -> None:
    with (
        pg(log.settings.database_url) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="partitions up to seq"),
    ):
        conn.execute("SELECT custody_ensure_log_partitions(100000000, 10)")
