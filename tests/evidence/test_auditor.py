"""`custody verify --against-checkpoint`: history since a saved checkpoint was not rewritten."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from service.cli import app as cli
from service.config import Settings
from service.db import session_scope
from service.evidence.checkpoints import checkpoint_now, signer
from service.evidence.guard import state_path
from tests.evidence.dbhelpers import checkpoint, fill, rechain_from, without_triggers


def _audit(settings: Settings, saved: Path, *extra: str) -> Any:
    env = {
        "CUSTODY_DATABASE_URL": settings.database_url,
        "CUSTODY_SIGNING_KEY_PATH": str(settings.signing_key_path),
    }
    return CliRunner().invoke(cli, ["verify", "--against-checkpoint", str(saved), *extra], env=env)


def _save(client: TestClient, tmp_path: Path) -> Path:
    saved = tmp_path / "checkpoint.json"
    saved.write_text(json.dumps(checkpoint(client)))
    return saved


def test_an_extended_log_passes(client: TestClient, settings: Settings, tmp_path: Path) -> None:
    fill(client, 15)
    saved = _save(client, tmp_path)
    fill(client, 10)
    checkpoint(client)
    key = tmp_path / "pub.pem"
    key.write_bytes(client.get("/v1/log/public-key").content)
    result = _audit(settings, saved, "--public-key", str(key))
    assert result.exit_code == 0, result.output
    assert "consistent extension" in result.output


def test_a_rewritten_history_fails(
    client: TestClient, app: Any, backend: str, settings: Settings, tmp_path: Path
) -> None:
    """The operator rewrites a record, re-chains the log, rebuilds the tree and re-signs."""
    fill(client, 15)
    saved = _save(client, tmp_path)
    fill(client, 5)
    statements, prev = rechain_from(app, 3)
    statements += [
        f"UPDATE log_head SET hash = '{prev}'",
        "DELETE FROM merkle_nodes",
        "DELETE FROM checkpoints",
        "UPDATE merkle_state SET size = 0, frontier = :empty",
    ]
    without_triggers(app, backend, *statements[:-1])
    with app.state.engine.begin() as conn:  # the empty frontier is a bound parameter
        conn.execute(text(statements[-1]), {"empty": b""})
    # An attacker who also holds the key directory: the checkpointer's own memory of the
    # last checkpoint goes too (test_checkpoint_guard covers the database-only attacker).
    state_path(settings.signing_key_path).unlink()
    with session_scope(app.state.sessionmaker) as session:
        checkpoint_now(session=session, signer=signer(settings.signing_key_path))
    # The chain itself is valid again: only the signed checkpoint shows the rewrite.
    result = CliRunner().invoke(
        cli, ["verify"], env={"CUSTODY_DATABASE_URL": settings.database_url}
    )
    assert result.exit_code == 0, result.output
    result = _audit(settings, saved)
    assert result.exit_code == 1
    assert "history rewritten" in result.output


def test_a_stored_tree_rewritten_without_the_records_fails(
    client: TestClient, app: Any, backend: str, settings: Settings, tmp_path: Path
) -> None:
    fill(client, 9)
    saved = _save(client, tmp_path)
    # The 8-leaf subtree is part of every root from size 8 on.
    without_triggers(app, backend, "DELETE FROM merkle_nodes WHERE level = 3 AND idx = 0")
    with app.state.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO merkle_nodes (level, idx, hash) VALUES (3, 0, :h)"),
            {"h": b"\x07" * 32},
        )
    result = _audit(settings, saved)
    assert result.exit_code == 1
    assert "stored Merkle tree does not match the records" in result.output


def test_a_forged_checkpoint_file_fails(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    fill(client, 4)
    saved = _save(client, tmp_path)
    data = json.loads(saved.read_text())
    data["tree_size"] -= 1
    saved.write_text(json.dumps(data))
    result = _audit(settings, saved)
    assert result.exit_code == 1 and "signature invalid" in result.output
