"""Key ids and rotation: `custody keys rotate` is logged and vouched for by the old key,
checkpoints name their key, GET /v1/log/public-key lists current and retired keys, and
bundles signed before the rotation still verify."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from service.cli import app as cli
from service.config import Settings
from service.evidence.keyring import load_public_keys
from service.evidence.keys import key_fingerprint, public_key_pem
from tests.evidence.dbhelpers import checkpoint, fill


def _env(settings: Settings) -> dict[str, str]:
    return {
        "CUSTODY_DATABASE_URL": settings.database_url,
        "CUSTODY_SIGNING_KEY_PATH": str(settings.signing_key_path),
    }


def _bundle(client: TestClient, path: Path) -> Path:
    response = client.post("/v1/exports", json={})
    assert response.status_code == 200, response.text
    path.write_bytes(response.content)
    return path


def _verify_bundle(bundle: Path, keys: Path) -> Any:
    return CliRunner().invoke(cli, ["verify-bundle", str(bundle), "--public-key", str(keys)])


def test_rotation_is_logged_signed_by_the_old_key_and_old_bundles_verify(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    fill(client, 6)
    before = checkpoint(client)
    old_id = before["key_id"]
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps(before))
    old_bundle = _bundle(client, tmp_path / "old.zip")

    rotated = CliRunner().invoke(cli, ["keys", "rotate"], env=_env(settings))
    assert rotated.exit_code == 0, rotated.output
    assert "Rotated" in rotated.output

    records = client.get("/v1/events", params={"action": "log.key.rotate"}).json()["items"]
    assert len(records) == 1
    record = records[0]
    assert record["source"] == "custody" and record["origin"] == "server"
    new_id = record["attributes"]["new_key_id"]
    assert record["attributes"]["old_key_id"] == old_id != new_id
    new_key = load_public_keys(record["attributes"]["new_public_key"])[0]
    assert key_fingerprint(new_key) == new_id
    # The old key signed a checkpoint covering the rotation: it vouches for the new key.
    vouching = client.get("/v1/log/checkpoints/latest").json()
    assert vouching["key_id"] == old_id and vouching["tree_size"] >= record["seq"]

    fill(client, 3)
    after = checkpoint(client)  # the running server picked up the new key file
    assert after["key_id"] == new_id

    listed = client.get("/v1/log/public-key", headers={"Accept": "application/json"}).json()
    assert listed["current"]["key_id"] == new_id and listed["current"]["retired_at"] is None
    assert [k["key_id"] for k in listed["retired"]] == [old_id]
    assert listed["retired"][0]["retired_at"] is not None
    keyring = tmp_path / "custody-keys.pem"
    keyring.write_bytes(client.get("/v1/log/public-key").content)
    assert [key_fingerprint(k) for k in load_public_keys(keyring.read_bytes())] == [
        new_id,
        old_id,
    ]

    new_bundle = _bundle(client, tmp_path / "new.zip")
    for bundle in (old_bundle, new_bundle):
        result = _verify_bundle(bundle, keyring)
        assert result.exit_code == 0, result.output
    current_only = tmp_path / "current.pem"
    current_only.write_text(listed["current"]["public_key"])
    refused = _verify_bundle(old_bundle, current_only)
    assert refused.exit_code != 0
    assert f"key_id {old_id} is not among the given public keys" in refused.output

    # An auditor's checkpoint from before the rotation still proves the log extends it.
    audited = CliRunner().invoke(
        cli,
        ["verify", "--against-checkpoint", str(saved), "--public-key", str(keyring)],
        env=_env(settings),
    )
    assert audited.exit_code == 0, audited.output
    assert "consistent extension" in audited.output


def test_rotating_without_a_key_fails(settings: Settings) -> None:
    result = CliRunner().invoke(cli, ["keys", "rotate"], env=_env(settings))
    assert result.exit_code == 2 and "no signing key" in result.output


def test_a_key_slipped_into_the_database_is_not_served(
    client: TestClient, app: Any, settings: Settings
) -> None:
    """Whoever writes the database cannot add a key of their own to the keyring auditors
    fetch: retired keys are read from the file the rotation keeps next to the key."""
    fill(client, 2)
    checkpoint(client)
    mallory = Ed25519PrivateKey.generate()
    with app.state.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO signing_keys (key_id, public_key, created_at, retired_at) "
                "VALUES (:id, :pem, :at, :at)"
            ),
            {
                "id": key_fingerprint(mallory),
                "pem": public_key_pem(mallory).decode(),
                "at": datetime.now(UTC),
            },
        )
    listed = client.get("/v1/log/public-key", headers={"Accept": "application/json"}).json()
    assert listed["retired"] == []
    served = load_public_keys(client.get("/v1/log/public-key").content)
    assert key_fingerprint(mallory) not in {key_fingerprint(k) for k in served}
