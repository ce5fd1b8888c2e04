"""Least privilege on PostgreSQL: the service runs as a runtime role that appends and
reads the log but cannot rewrite, delete, truncate or alter it, and erases only through
`custody_erase_payload`. SQLite has no roles, so these tests run on PostgreSQL only."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import errors
from sqlalchemy import text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from service.app import create_app
from service.auth.schemas import Scope
from service.auth.service import create_token
from service.cli import app as cli
from service.config import Settings
from service.db import make_engine, session_scope
from service.dbroles import TABLE_GRANTS
from service.worker import build_tasks
from tests.conftest import _pg_exec, event, service_settings

LOG_TABLES = ("log_records", "log_payloads")


@pytest.fixture(scope="session")
def runtime_role() -> Iterator[str]:
    """A role of this test session; `custody db roles` creates it in the first database."""
    role = f"custody_rt_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    yield role
    # A database left by a failed test may still hold grants; the name is unique anyway.
    with contextlib.suppress(psycopg.Error):
        _pg_exec(f'DROP ROLE IF EXISTS "{role}"')


def roles(url: str, *args: str, **env: str) -> Any:
    return CliRunner().invoke(cli, ["db", "roles", *args], env={"CUSTODY_DATABASE_URL": url, **env})


@pytest.fixture
def runtime_url(pg_url: str, runtime_role: str) -> str:
    """The fresh test database, set up with `custody db roles`, as the runtime role."""
    result = roles(pg_url, "--runtime-role", runtime_role)
    assert result.exit_code == 0, result.output
    return make_url(pg_url).set(username=runtime_role).render_as_string(hide_password=False)


def one(conn: psycopg.Connection[Any], query: str, *params: Any) -> tuple[Any, ...]:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return tuple(row)


def connect(url: str) -> psycopg.Connection[Any]:
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(conninfo, autocommit=True)


@pytest.fixture
def runtime_settings(runtime_url: str, tmp_path: Path) -> Settings:
    return service_settings(runtime_url, tmp_path)


@pytest.fixture
def runtime_client(runtime_settings: Settings) -> Iterator[TestClient]:
    """The API as the service runs it in production: connected as the runtime role."""
    app = create_app(runtime_settings)
    with session_scope(app.state.sessionmaker) as session:
        secret = create_token(session=session, scope=Scope.admin).secret
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {secret}"
        yield client
    app.state.engine.dispose()


def test_the_service_runs_as_the_runtime_role_end_to_end(
    runtime_client: TestClient, runtime_settings: Settings, runtime_role: str
) -> None:
    client = runtime_client
    engine = make_engine(runtime_settings.database_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar_one() == runtime_role
    engine.dispose()
    r = client.post(
        "/v1/events",
        json=[
            event(id="p1", attributes={"prompt": "my passport number is X1234567"}),
            event(id="off", action="logging.disable", resource={"type": "model", "id": "m1"}),
            *(event(id=f"e{i}") for i in range(5)),
        ],
    )
    assert r.status_code == 200, r.text
    private, off = r.json()["first_seq"], r.json()["first_seq"] + 1

    # The worker's tasks (rules engine, checkpointer) as the runtime role.
    factory = client.app.state.sessionmaker  # type: ignore[attr-defined]
    for task in build_tasks(runtime_settings):
        for _ in range(20):
            if not task.run_once(factory):
                break
    incidents = client.get("/v1/incidents").json()["items"]
    assert [i["rule_id"] for i in incidents] == ["19ba2712-8b98-49e8-b704-e950bda0881f"]
    incident = incidents[0]
    assert client.get("/v1/log/checkpoints/latest").status_code == 200

    # Responders work the incident; each change is appended to the log.
    etag = client.get(f"/v1/incidents/{incident['id']}").headers["ETag"]
    changed = client.patch(
        f"/v1/incidents/{incident['id']}",
        json={"status": "acknowledged"},
        headers={"If-Match": etag},
    )
    assert changed.status_code == 200, changed.text
    comment = client.post(f"/v1/incidents/{incident['id']}/comments", json={"body": "on it"})
    assert comment.status_code == 201, comment.text
    assert client.post("/v1/holds", json={"reason": "case 7", "actor": "zed"}).status_code == 201

    held = client.post(f"/v1/events/{off}/erase", json={"reason": "subject request"})
    assert held.status_code == 409
    erased = client.post(f"/v1/events/{private}/erase", json={"reason": "subject request"})
    assert erased.status_code == 200, erased.text
    assert client.get(f"/v1/events/{private}").json()["erased"] is True
    found = client.get("/v1/search", params={"q": "passport"}).json()["items"]
    # The erased payload is not found; the search's own audit.read echo is left out.
    assert found == []

    verify = CliRunner().invoke(
        cli, ["verify"], env={"CUSTODY_DATABASE_URL": runtime_settings.database_url}
    )
    assert verify.exit_code == 0, verify.output
    replay = client.get("/v1/replay", params={"from_seq": 1})
    assert orjson.loads(replay.content.splitlines()[-1])["trailer"]["verified"] is True


REFUSED = [
    *(f"UPDATE {t} SET seq = seq" for t in LOG_TABLES),
    *(f"DELETE FROM {t}" for t in LOG_TABLES),
    *(f"TRUNCATE {t}" for t in LOG_TABLES),
    *(f"ALTER TABLE {t} DISABLE TRIGGER ALL" for t in LOG_TABLES),
    "ALTER TABLE log_records DISABLE TRIGGER log_records_append_only",
    "DROP TABLE log_payloads",
    "DELETE FROM log_head",
    "INSERT INTO log_head (id, seq, hash) VALUES (2, 0, '')",
    "UPDATE log_head SET id = 2",
    "TRUNCATE log_head",
    "DELETE FROM checkpoints",
    "DELETE FROM merkle_nodes",
    "UPDATE merkle_nodes SET hash = hash",
    "DELETE FROM incident_timeline",
    "DELETE FROM incident_evidence",
    "CREATE OR REPLACE FUNCTION custody_erase_payload(bigint, jsonb, jsonb) RETURNS bigint "
    "LANGUAGE sql AS 'SELECT 1::bigint'",
]


def test_the_runtime_role_cannot_change_the_log(
    runtime_client: TestClient, runtime_url: str
) -> None:
    assert runtime_client.post("/v1/events", json=[event(), event()]).status_code == 200
    with connect(runtime_url) as conn:
        for statement in REFUSED:
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(statement)
        # The head row it may update only moves forward, onto an appended record.
        for statement in (
            "UPDATE log_head SET hash = repeat('f', 64)",
            "UPDATE log_head SET seq = 0",
            "UPDATE log_head SET seq = seq + 1",
        ):
            with pytest.raises(errors.InsufficientPrivilege, match="only moves forward"):
                conn.execute(statement)
        conn.execute("UPDATE log_head SET seq = seq")  # the append lock still works


def test_the_erase_function_refuses_anything_but_an_erase_record_at_the_head(
    runtime_client: TestClient, runtime_url: str
) -> None:
    r = runtime_client.post("/v1/events", json=[event(id="a"), event(id="b")])
    target = r.json()["first_seq"]
    with connect(runtime_url) as conn:
        head_seq, head_hash = one(conn, "SELECT seq, hash FROM log_head")
        good = {
            "seq": head_seq + 1,
            "source": "custody",
            "action": "event.erase",
            "resource_type": "event",
            "resource_id": str(target),
            "prev_hash": head_hash,
            "origin": "server",
        }
        attributes = {"attributes": {"erased_seq": target}}
        body = {"seq": head_seq + 1, "body": orjson.dumps(attributes).decode()}
        forged = [
            {**good, "action": "incident.update"},
            {**good, "source": "inference-gateway"},
            {**good, "resource_id": str(target + 1)},
            {**good, "origin": "tok_123"},  # an ingest token's record
            {**good, "seq": head_seq + 2},  # not at the head
            {**good, "prev_hash": "0" * 64},
        ]
        for record in forged:
            with pytest.raises(errors.CheckViolation, match=r"not an event\.erase record"):
                conn.execute(
                    "SELECT custody_erase_payload(%s, %s, %s)",
                    (target, orjson.dumps(record).decode(), orjson.dumps(body).decode()),
                )
        # Custody's own records (here: the token's creation) are refused before anything else.
        (own,) = one(conn, "SELECT min(seq) FROM log_records WHERE source = 'custody'")
        with pytest.raises(errors.InsufficientPrivilege, match="cannot be erased"):
            conn.execute(
                "SELECT custody_erase_payload(%s, %s, %s)",
                (own, orjson.dumps(good).decode(), orjson.dumps(body).decode()),
            )
        # Held events are refused too, whoever calls.
        on_alice = {"reason": "case 7", "actor": "alice@example.com"}
        assert runtime_client.post("/v1/holds", json=on_alice).status_code == 201
        with pytest.raises(errors.InsufficientPrivilege, match="is held"):
            conn.execute(
                "SELECT custody_erase_payload(%s, %s, %s)",
                (target, orjson.dumps(good).decode(), orjson.dumps(body).decode()),
            )
        assert one(conn, "SELECT count(*) FROM log_payloads WHERE seq = %s", target) == (1,)


def test_db_roles_is_idempotent_and_hides_the_password(pg_url: str, runtime_role: str) -> None:
    dry_role = f"{runtime_role}_x"
    dry = roles(pg_url, "--runtime-role", dry_role, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f'CREATE ROLE "{dry_role}" LOGIN;' in dry.output
    assert 'GRANT SELECT, INSERT ON TABLE "log_records"' in dry.output
    with connect(pg_url) as conn:
        assert one(conn, "SELECT count(*) FROM pg_roles WHERE rolname = %s", dry_role) == (0,)

    for _ in range(2):
        done = roles(
            pg_url, "--runtime-role", runtime_role, "--password-env", "RT_PW", RT_PW="s3cr3t-pw"
        )
        assert done.exit_code == 0, done.output
        assert "s3cr3t-pw" not in done.output
        assert "PASSWORD '********'" in done.output
    with connect(pg_url) as conn:
        grants = dict(
            conn.execute(
                "SELECT table_name, string_agg(privilege_type, ',' ORDER BY privilege_type) "
                "FROM information_schema.role_table_grants WHERE grantee = %s GROUP BY 1",
                (runtime_role,),
            ).fetchall()
        )
    assert grants["log_records"] == grants["log_payloads"] == "INSERT,SELECT"
    assert grants["log_head"] == "SELECT"  # UPDATE is granted on two columns only
    assert grants["incidents"] == "INSERT,SELECT,UPDATE"

    missing = roles(pg_url, "--runtime-role", runtime_role, "--password-env", "NOT_SET_ANYWHERE")
    assert missing.exit_code == 2
    owner = roles(pg_url, "--runtime-role", "postgres")
    assert owner.exit_code == 1 and "superuser" in owner.output


def test_every_table_has_a_grant_policy(pg_url: str) -> None:
    with connect(pg_url) as conn:
        # Partitions of the log are reached through their parent's grants only.
        found = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
        )
        tables = {t for (t,) in found}
    assert tables - set(TABLE_GRANTS) == set(), "classify new tables in service/dbroles.py"


def test_sqlite_has_no_roles(tmp_path: Path) -> None:
    result = roles(f"sqlite:///{tmp_path / 'c.db'}", "--runtime-role", "x")
    assert result.exit_code == 2
    assert "SQLite has no roles" in result.output
