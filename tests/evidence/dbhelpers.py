"""Helpers for the database-backed evidence tests."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.conftest import event

ACTORS = ("alice@example.com", "bob@example.com", "carol@example.com")


def fill(client: TestClient, count: int, *, per_request: int = 7, **overrides: Any) -> None:
    """Ingest ``count`` events in several requests (several appends)."""
    sent = 0
    while sent < count:
        batch = [
            event(
                actor={"type": "user", "id": ACTORS[(sent + i) % len(ACTORS)]},
                time=f"2026-11-30T12:{(sent + i) // 60 % 60:02d}:{(sent + i) % 60:02d}.000Z",
                attributes={"n": sent + i},
                **overrides,
            )
            for i in range(min(per_request, count - sent))
        ]
        response = client.post("/v1/events", json=batch)
        assert response.status_code == 200, response.text
        sent += len(batch)


def checkpoint(client: TestClient) -> dict[str, Any]:
    response = client.post("/v1/log/checkpoints")
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def without_triggers(app: Any, backend: str, *statements: str) -> None:
    """What an attacker with database access does: switch the guards off, then edit."""
    with app.state.engine.begin() as conn:
        if backend == "postgresql":
            for table in (
                "log_records",
                "log_payloads",
                "log_head",
                "merkle_nodes",
                "checkpoints",
                "witness_cosignatures",
                "incident_timeline",
                "incident_evidence",
            ):
                conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        else:
            names = conn.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            ).scalars()
            for name in list(names):
                conn.execute(text(f"DROP TRIGGER {name}"))
        for sql in statements:
            conn.execute(text(sql))


def rechain_from(app: Any, seq: int, actor_id: str = "mallory") -> tuple[list[str], str]:
    """A full rewrite from `seq` on: change its actor, then recompute every later hash so
    the links hold. Returns the UPDATE statements and the new head hash."""
    from service.logformat import canonical_record, chain_hash, record_from_row

    with app.state.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM log_records ORDER BY seq")).mappings().all()
    statements: list[str] = []
    prev: str | None = None
    for row in rows:
        data = dict(row)
        if data["seq"] == seq:
            data["actor_id"] = actor_id
        if data["seq"] >= seq:
            data["prev_hash"] = prev or data["prev_hash"]
            record = record_from_row(SimpleNamespace(**data))
            data["hash"] = chain_hash(data["prev_hash"], canonical_record(record))
            statements.append(
                f"UPDATE log_records SET actor_id = '{data['actor_id']}', "
                f"prev_hash = '{data['prev_hash']}', hash = '{data['hash']}' "
                f"WHERE seq = {data['seq']}"
            )
        prev = data["hash"]
    assert prev is not None
    return statements, prev


def rewrite_and_wipe(app: Any, backend: str, *, keep_checkpoints: bool = False) -> None:
    """The attacker with database write access: change seq 3, re-chain every later
    record, wipe the Merkle tree (and the signed checkpoints)."""
    statements, prev = rechain_from(app, 3)
    statements += [f"UPDATE log_head SET hash = '{prev}'", "DELETE FROM merkle_nodes"]
    if not keep_checkpoints:
        statements += ["DELETE FROM witness_cosignatures", "DELETE FROM checkpoints"]
    without_triggers(app, backend, *statements)
    with app.state.engine.begin() as conn:
        conn.execute(text("UPDATE merkle_state SET size = 0, frontier = :e"), {"e": b""})


def replay_lines(client: TestClient, **params: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    import orjson

    response = client.get("/v1/replay", params=params)
    assert response.status_code == 200, response.text
    lines = [orjson.loads(line) for line in response.content.splitlines()]
    trailer = lines[-1]["trailer"]
    return lines[:-1], trailer
