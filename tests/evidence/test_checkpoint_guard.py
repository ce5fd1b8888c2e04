"""The checkpointer cannot be fooled: the attack of issue 12 (rewrite a record, re-chain
the log, wipe the tree and the checkpoints, restart) no longer gets the forgery signed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from structlog.testing import capture_logs
from typer.testing import CliRunner

from service.app import create_app
from service.cli import app as cli
from service.config import Settings
from service.db import session_scope
from service.evidence.checkpoints import checkpoint_now, signer
from service.evidence.guard import CheckpointRefused, state_path
from service.evidence.models import CheckpointRow
from service.evidence.task import Checkpointer
from tests.evidence.dbhelpers import checkpoint, fill, rewrite_and_wipe, without_triggers


def _state(settings: Settings) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(state_path(settings.signing_key_path).read_text())
    return data


def _signed(checkpoint: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in checkpoint.items() if k != "id"}


def _checkpoint_count(app: Any) -> int:
    with app.state.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(CheckpointRow)) or 0)


def test_the_last_signed_checkpoint_is_kept_next_to_the_key(
    client: TestClient, settings: Settings
) -> None:
    fill(client, 6)
    first = checkpoint(client)
    assert _state(settings) == _signed(first)
    assert state_path(settings.signing_key_path).stat().st_mode & 0o077 == 0
    fill(client, 4)
    second = checkpoint(client)  # a consistent extension: signed, state moves on
    assert second["tree_size"] == first["tree_size"] + 4
    assert _state(settings)["root_hash"] == second["root_hash"]
    assert client.get("/readyz").json() == {"status": "ready"}


def test_a_rolled_back_checkpoint_leaves_the_state_file_alone(
    client: TestClient, app: Any, settings: Settings
) -> None:
    fill(client, 5)
    before = checkpoint(client)
    fill(client, 3)
    with app.state.sessionmaker() as session:
        checkpoint_now(session=session, signer=signer(settings.signing_key_path))
        session.rollback()
    assert _state(settings) == _signed(before)


def test_a_rechained_log_with_wiped_checkpoints_is_not_signed(
    client: TestClient, app: Any, backend: str, settings: Settings
) -> None:
    fill(client, 15)
    signed = checkpoint(client)
    fill(client, 5)
    rewrite_and_wipe(app, backend)
    # The chain itself is valid again: only the outside copy of the checkpoint shows it.
    verified = CliRunner().invoke(
        cli, ["verify"], env={"CUSTODY_DATABASE_URL": app.state.settings.database_url}
    )
    assert verified.exit_code == 0, verified.output

    restarted = create_app(settings)  # a restart: nothing is remembered in memory
    try:
        task = Checkpointer(settings.model_copy(update={"checkpoint_every_events": 1}))
        with capture_logs() as logs:
            task.run_once(restarted.state.sessionmaker)
        refused = [e for e in logs if e["event"] == "checkpoint.refused"]
        assert len(refused) == 1 and refused[0]["log_level"] == "error"
        assert "not a consistent extension" in refused[0]["reason"]
        assert refused[0]["last_tree_size"] == signed["tree_size"]
        assert refused[0]["tree_size"] == signed["tree_size"] + 5
        assert _checkpoint_count(restarted) == 0
        assert _state(settings) == _signed(signed)  # the genuine one stays

        with capture_logs() as logs:  # throttled: one alert per checkpoint period
            task.run_once(restarted.state.sessionmaker)
        assert not [e for e in logs if e["event"] == "checkpoint.refused"]

        with TestClient(restarted, raise_server_exceptions=False) as c:
            c.headers["Authorization"] = client.headers["Authorization"]
            ready = c.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["status"] == "degraded"
            assert "history was rewritten" in ready.json()["reason"]
            scraped = c.get("/metrics").text
            assert "custody_checkpoint_consistent 0.0" in scraped

            forced = c.post("/v1/log/checkpoints")
            assert forced.status_code == 409
            assert forced.headers["content-type"] == "application/problem+json"
            assert "not a consistent extension" in forced.json()["detail"]
            exported = c.post("/v1/exports", json={"actor": "mallory"})
            assert exported.status_code == 409, exported.text
        assert _checkpoint_count(restarted) == 0
    finally:
        restarted.state.engine.dispose()


def test_a_rewrite_under_the_old_checkpoint_does_not_export_as_ok(
    client: TestClient, app: Any, backend: str, settings: Settings, tmp_path: Path
) -> None:
    """Same attack, but the old signed checkpoint is left in place: the bundle anchors
    the forged records to the genuine root, and verify-bundle says so."""
    fill(client, 15)
    checkpoint(client)
    fill(client, 5)
    rewrite_and_wipe(app, backend, keep_checkpoints=True)
    Checkpointer(settings.model_copy(update={"checkpoint_every_events": 1})).run_once(
        app.state.sessionmaker
    )
    assert _checkpoint_count(app) == 1
    exported = client.post("/v1/exports", json={"to_seq": 10})
    assert exported.status_code == 200, exported.text
    bundle, key = tmp_path / "b.zip", tmp_path / "k.pem"
    bundle.write_bytes(exported.content)
    key.write_bytes(client.get("/v1/log/public-key").content)
    result = CliRunner().invoke(cli, ["verify-bundle", str(bundle), "--public-key", str(key)])
    assert result.exit_code != 0
    assert "OK" not in result.output


def test_a_truncated_log_is_not_signed(
    client: TestClient, app: Any, backend: str, settings: Settings
) -> None:
    fill(client, 12)
    signed = checkpoint(client)
    without_triggers(
        app,
        backend,
        "DELETE FROM log_payloads WHERE seq > 8",
        "DELETE FROM log_records WHERE seq > 8",
        "UPDATE log_head SET seq = 8, hash = (SELECT hash FROM log_records WHERE seq = 8)",
        "DELETE FROM merkle_nodes",
        "DELETE FROM checkpoints",
    )
    with app.state.engine.begin() as conn:
        conn.execute(text("UPDATE merkle_state SET size = 0, frontier = :e"), {"e": b""})
    with (
        session_scope(app.state.sessionmaker) as session,
        pytest.raises(CheckpointRefused, match=f"fewer than the {signed['tree_size']}"),
    ):
        checkpoint_now(session=session, signer=signer(settings.signing_key_path))
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "truncated" in ready.json()["reason"]
