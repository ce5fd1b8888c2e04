"""The database refuses changes to the log, and `custody verify` finds what got through."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from typer.testing import CliRunner

from service.cli import app as cli
from tests.conftest import event


def _fill(client: TestClient, n: int = 10) -> None:
    r = client.post("/v1/events", json=[event(id=f"s{i}") for i in range(n)])
    assert r.status_code == 200


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE log_records SET action = 'model.read' WHERE seq = 3",
        "DELETE FROM log_records WHERE seq = 3",
        "UPDATE log_payloads SET body = '{}' WHERE seq = 3",
    ],
)
def test_database_refuses_update_and_delete(client: TestClient, app: Any, sql: str) -> None:
    _fill(client)
    with app.state.engine.connect() as conn, pytest.raises(DatabaseError) as info:
        conn.execute(text(sql))
    assert "append-only" in str(info.value)


def _verify(db_url: str, *args: str) -> Any:
    return CliRunner().invoke(cli, ["verify", *args], env={"CUSTODY_DATABASE_URL": db_url})


def _without_triggers(app: Any, backend: str, *statements: str) -> None:
    """What an attacker with database access would do: switch the guard off, then edit."""
    with app.state.engine.begin() as conn:
        if backend == "postgresql":
            conn.execute(text("ALTER TABLE log_records DISABLE TRIGGER USER"))
            conn.execute(text("ALTER TABLE log_payloads DISABLE TRIGGER USER"))
        else:
            names = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
            for name in list(names.scalars()):
                conn.execute(text(f"DROP TRIGGER {name}"))
        for sql in statements:
            conn.execute(text(sql))


def test_verify_ok_on_an_untouched_log(client: TestClient, db_url: str) -> None:
    _fill(client)
    result = _verify(db_url)
    assert result.exit_code == 0, result.output
    assert "OK" in result.output and "11 records verified" in result.output


def test_verify_names_the_changed_record(
    client: TestClient, app: Any, backend: str, db_url: str
) -> None:
    _fill(client)
    _without_triggers(app, backend, "UPDATE log_records SET actor_id = 'mallory' WHERE seq = 5")
    result = _verify(db_url)
    assert result.exit_code == 1
    assert "seq 5" in result.output and "content changed" in result.output


def test_verify_reports_a_deleted_record_as_a_gap(
    client: TestClient, app: Any, backend: str, db_url: str
) -> None:
    _fill(client)
    _without_triggers(
        app,
        backend,
        "DELETE FROM log_payloads WHERE seq = 7",
        "DELETE FROM log_records WHERE seq = 7",
    )
    result = _verify(db_url)
    assert result.exit_code == 1
    assert "seq 7" in result.output and "gap" in result.output


def test_verify_reports_rewritten_hash_as_broken_link(
    client: TestClient, app: Any, backend: str, db_url: str
) -> None:
    """Recomputing one record's hash after editing it breaks the next record's link."""
    _fill(client)
    with app.state.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM log_records WHERE seq = 4")).mappings().one()
    from service.logformat import canonical_record, chain_hash, record_from_row

    class Row:
        def __init__(self, data: dict[str, Any]) -> None:
            self.__dict__.update(data)

    forged = dict(row, actor_id="mallory")
    new_hash = chain_hash(forged["prev_hash"], canonical_record(record_from_row(Row(forged))))
    _without_triggers(
        app,
        backend,
        f"UPDATE log_records SET actor_id = 'mallory', hash = '{new_hash}' WHERE seq = 4",
    )
    result = _verify(db_url)
    assert result.exit_code == 1
    assert "seq 5" in result.output and "link broken" in result.output


def test_verify_reports_changed_and_missing_payloads(
    client: TestClient, app: Any, backend: str, db_url: str
) -> None:
    _fill(client)
    _without_triggers(
        app, backend, "UPDATE log_payloads SET body = '{\"attributes\":{}}' WHERE seq = 6"
    )
    result = _verify(db_url)
    assert "seq 6" in result.output and "payload changed" in result.output
    with app.state.engine.begin() as conn:
        conn.execute(text("DELETE FROM log_payloads WHERE seq = 6"))
    result = _verify(db_url)
    assert result.exit_code == 1
    assert "seq 6" in result.output and "payload missing" in result.output


def test_verify_detects_a_truncated_tail(
    client: TestClient, app: Any, backend: str, db_url: str
) -> None:
    _fill(client)
    _without_triggers(
        app,
        backend,
        "DELETE FROM log_payloads WHERE seq = 11",
        "DELETE FROM log_records WHERE seq = 11",
    )
    result = _verify(db_url)
    assert result.exit_code == 1
    assert "seq 11" in result.output


def test_verify_range_and_api(client: TestClient) -> None:
    _fill(client)
    report = client.get("/v1/log/verify", params={"from_seq": 3, "to_seq": 8}).json()
    assert report["ok"] and report["checked"] == 6
