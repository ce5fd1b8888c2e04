"""A log written in record format v1 moves to v2 with a verifiable transition record.

The v1 log is built here with the old format written out by hand (hashlib and the
rfc8785 reference package), not with the code under test.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import rfc8785
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from service import migrate
from service.app import create_app
from service.auth.schemas import Scope
from service.auth.service import create_token
from service.cli import app as cli
from service.config import Settings
from service.db import make_engine, session_scope
from tests.conftest import REPO, _pg_exec, _pg_url, event
from tests.evidence.dbhelpers import without_triggers

ZERO = "0" * 64
V1_COLUMNS = (
    "seq, received_at, event_id, time, source, action, outcome, actor_type, actor_id, "
    "resource_type, resource_id, payload_digest, prev_hash, hash, content_hash"
)


@pytest.fixture
def old_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database migrated only up to the last revision before record format v2."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
        migrate.upgrade(url, "0007")
        yield url
        return
    name = f"custody_v1_{uuid.uuid4().hex[:12]}"
    _pg_exec(f'CREATE DATABASE "{name}"')
    migrate.upgrade(_pg_url(name), "0007")
    yield _pg_url(name)
    _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _v1_log(url: str) -> tuple[int, str]:
    """Six v1 records: seq 3's payload was erased (v1 erase record seq 4); seq 6 is a
    forged v1 erase record naming seq 1, whose payload is still there."""
    rows = [
        ("inference-gateway", "model.invoke", ("user", "alice"), ("model", "llm-prod")),
        ("inference-gateway", "model.weights.download", ("user", "bob"), ("model", "llm-prod")),
        ("admin-console", "model.permission.grant", ("user", "carol"), ("model", "llm-prod")),
        ("custody", "event.erase", ("token", "tok_admin"), ("event", "3")),
        ("inference-gateway", "model.invoke", ("user", "alice"), ("model", "llm-dev")),
        ("custody", "event.erase", ("token", "tok_mallory"), ("event", "1")),
    ]
    engine = make_engine(url)
    prev = ZERO
    with engine.begin() as conn:
        for seq, (source, action, actor, resource) in enumerate(rows, start=1):
            salt = os.urandom(16)
            body = rfc8785.dumps({"attributes": {"n": seq}, "raw": None})
            digest = hashlib.sha256(salt + body).hexdigest()
            when = f"2026-11-30T12:00:0{seq}.000000Z"
            record = {
                "v": 1, "seq": seq, "received_at": when, "id": None, "time": when,
                "source": source, "action": action, "outcome": "success",
                "actor": {"type": actor[0], "id": actor[1]},
                "resource": {"type": resource[0], "id": resource[1]},
                "request_id": None, "payload_digest": digest, "prev_hash": prev,
            }  # fmt: skip
            digest_hash = hashlib.sha256(bytes.fromhex(prev) + rfc8785.dumps(record)).hexdigest()
            params = {"seq": seq, "t": when, "src": source, "act": action, "at": actor[0],
                      "aid": actor[1], "rt": resource[0], "rid": resource[1], "d": digest,
                      "p": prev, "h": digest_hash}  # fmt: skip
            conn.execute(
                text(
                    f"INSERT INTO log_records ({V1_COLUMNS}) VALUES (:seq, :t, NULL, :t, :src, "
                    ":act, 'success', :at, :aid, :rt, :rid, :d, :p, :h, :h)"
                ),
                params,
            )
            if seq != 3:
                conn.execute(
                    text("INSERT INTO log_payloads (seq, salt, body) VALUES (:s, :salt, :b)"),
                    {"s": seq, "salt": salt.hex(), "b": body.decode()},
                )
            prev = digest_hash
        conn.execute(text("UPDATE log_head SET seq = 6, hash = :h WHERE id = 1"), {"h": prev})
    engine.dispose()
    return 6, prev


def _verify(url: str) -> Any:
    return CliRunner().invoke(cli, ["verify"], env={"CUSTODY_DATABASE_URL": url})


def test_a_v1_log_upgrades_verifies_and_catches_tampering(
    old_url: str, backend: str, tmp_path: Path
) -> None:
    last_seq, last_hash = _v1_log(old_url)
    migrate.upgrade(old_url)
    result = _verify(old_url)
    assert result.exit_code == 0, result.output
    assert "OK 7 records verified" in result.output

    settings = Settings(
        database_url=old_url,
        log_format="json",
        run_background=False,
        signing_key_path=tmp_path / "key.pem",
        rules_dir=REPO / "rules",
        runbooks_dir=REPO / "runbooks",
    )
    app = create_app(settings)
    try:
        with session_scope(app.state.sessionmaker) as session:
            secret = create_token(session=session, scope=Scope.admin).secret
        client = TestClient(app, raise_server_exceptions=False)
        client.headers["Authorization"] = f"Bearer {secret}"

        transition = client.get(f"/v1/events/{last_seq + 1}").json()
        assert (transition["source"], transition["action"], transition["origin"]) == (
            "custody",
            "log.schema.upgrade",
            "server",
        )
        assert transition["attributes"] == {
            "from_version": 1, "to_version": 2, "last_v1_seq": last_seq,
            "last_v1_hash": last_hash, "erased_seqs": [3],
        }  # fmt: skip
        assert transition["prev_hash"] == last_hash
        old = client.get("/v1/events/1").json()
        assert old["origin"] is None  # v1: hashed without origin, as it was

        r = client.post("/v1/events", json=[event(id="after-1"), event(id="after-2")])
        assert r.status_code == 200, r.text
        assert client.get(f"/v1/events/{r.json()['last_seq']}").json()["origin"].startswith("tok_")
        assert _verify(old_url).exit_code == 0

        # The offline verifier takes a bundle that spans both formats.
        bundle = client.post("/v1/exports", json={"from_seq": 1})
        assert bundle.status_code == 200, bundle.text
        (tmp_path / "b.zip").write_bytes(bundle.content)
        (tmp_path / "k.pem").write_bytes(client.get("/v1/log/public-key").content)
        offline = CliRunner().invoke(
            cli, ["verify-bundle", str(tmp_path / "b.zip"), "--public-key", str(tmp_path / "k.pem")]
        )
        assert offline.exit_code == 0, offline.output
        _, trailer = _replay(client)
        assert trailer["verified"] is True, trailer

        # Tampering with the v1 prefix is still caught...
        without_triggers(app, backend, "UPDATE log_records SET actor_id = 'mallory' WHERE seq = 2")
        result = _verify(old_url)
        assert result.exit_code == 1 and "seq 2" in result.output, result.output
        assert "content changed" in result.output
        without_triggers(app, backend, "UPDATE log_records SET actor_id = 'bob' WHERE seq = 2")
        assert _verify(old_url).exit_code == 0
        # A forged v1 erase record excuses nothing after the upgrade.
        with app.state.engine.connect() as conn:
            kept = conn.execute(text("SELECT salt, body FROM log_payloads WHERE seq = 1")).one()
        without_triggers(app, backend, "DELETE FROM log_payloads WHERE seq = 1")
        result = _verify(old_url)
        assert result.exit_code == 1 and "seq 1" in result.output, result.output
        assert "payload missing without an erasure record" in result.output
        with app.state.engine.begin() as conn:
            conn.execute(
                text("INSERT INTO log_payloads (seq, salt, body) VALUES (1, :s, :b)"),
                {"s": kept.salt, "b": kept.body},
            )
        assert _verify(old_url).exit_code == 0
        # ...and so is passing a new record off as v1 (to drop its origin), even re-hashed.
        head = _downgrade_last(app, backend)
        result = _verify(old_url)
        assert result.exit_code == 1, result.output
        assert f"seq {head}" in result.output and "format downgrade" in result.output
    finally:
        app.state.engine.dispose()


def _replay(client: TestClient) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    r = client.get("/v1/replay", params={"from_seq": 1})
    lines = [orjson.loads(line) for line in r.content.splitlines()]
    return lines[:-1], lines[-1]["trailer"]


def _downgrade_last(app: Any, backend: str) -> int:
    with app.state.engine.connect() as conn:
        row = (
            conn.execute(text("SELECT * FROM log_records ORDER BY seq DESC LIMIT 1"))
            .mappings()
            .one()
        )
    record = {
        "v": 1, "seq": row["seq"], "received_at": row["received_at"], "id": row["event_id"],
        "time": row["time"], "source": row["source"], "action": row["action"],
        "outcome": row["outcome"],
        "actor": {k: row[f"actor_{k}"] for k in ("type", "id", "ip", "user_agent")
                  if row[f"actor_{k}"] is not None} or None,
        "resource": {k: row[f"resource_{k}"] for k in ("type", "id", "version")
                     if row[f"resource_{k}"] is not None} or None,
        "request_id": row["request_id"], "payload_digest": row["payload_digest"],
        "prev_hash": row["prev_hash"],
    }  # fmt: skip
    forged = hashlib.sha256(bytes.fromhex(row["prev_hash"]) + rfc8785.dumps(record)).hexdigest()
    without_triggers(
        app,
        backend,
        f"UPDATE log_records SET v = 1, origin = NULL, hash = '{forged}' WHERE seq = {row['seq']}",
        f"UPDATE log_head SET hash = '{forged}' WHERE id = 1",
    )
    return int(row["seq"])


def test_an_empty_log_starts_at_v2_without_a_transition_record(client: TestClient) -> None:
    items = client.get("/v1/events").json()["items"]
    assert all(i["action"] != "log.schema.upgrade" for i in items)
    assert items and all(i["origin"] is not None for i in items)
