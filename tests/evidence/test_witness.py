"""Witnessing: `custody witness` cosigns only consistent extensions of what it saw, Custody
keeps and exports the cosignatures, `verify-bundle --witness-key` checks them. The
attack of issue 12 with the key directory taken too (state file deleted, forged tree
re-signed by the genuine key) is caught by the witness."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.cli import app as cli
from service.config import Settings
from service.evidence.cosign import cosign
from service.evidence.guard import state_path
from service.evidence.keys import key_fingerprint, load_private_key, public_key_pem
from service.evidence.signing import Checkpoint
from service.evidence.witness_client import WitnessRefusal, read_state, witness_once
from tests.evidence.dbhelpers import checkpoint, fill, rewrite_and_wipe


@pytest.fixture
def auditor(client: TestClient, tmp_path: Path) -> dict[str, Path]:
    """The auditor's own files: its witness key, its state, the log's keys it trusts."""
    log_keys = tmp_path / "custody-keys.pem"
    log_keys.write_bytes(client.get("/v1/log/public-key").content)
    return {
        "key_path": tmp_path / "witness.pem",
        "state_path": tmp_path / "witness-state.json",
        "log_keys": log_keys,
    }


def _witness(client: TestClient, auditor: dict[str, Path]) -> Any:
    return witness_once(
        client,
        key_path=auditor["key_path"],
        log_keys_pem=auditor["log_keys"].read_bytes(),
        state_path=auditor["state_path"],
    )


def _signed(made: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in made.items() if k != "id"}


def test_witness_cosigns_exports_and_verify_bundle_checks(
    client: TestClient, auditor: dict[str, Path], tmp_path: Path
) -> None:
    fill(client, 5)
    first = checkpoint(client)
    done = _witness(client, auditor)
    assert done.checkpoint.to_dict() == _signed(first) and done.previous_size is None
    fill(client, 6)
    second = checkpoint(client)
    done = _witness(client, auditor)
    assert done.previous_size == first["tree_size"]
    assert read_state(auditor["state_path"]) == Checkpoint.from_dict(_signed(second))

    witness_key = load_private_key(auditor["key_path"])
    witness_id = key_fingerprint(witness_key)
    listed = client.get("/v1/log/cosignatures").json()
    assert listed["checkpoint"] == _signed(second)
    assert [c["witness_key_id"] for c in listed["items"]] == [witness_id]
    logged = client.get("/v1/events", params={"action": "witness.cosign"}).json()["items"]
    assert [e["attributes"]["tree_size"] for e in logged] == [
        first["tree_size"],
        second["tree_size"],
    ]
    assert all(e["origin"] == "server" for e in logged)

    exported = client.post("/v1/exports", json={"to_seq": second["tree_size"]})
    assert exported.status_code == 200, exported.text
    bundle = tmp_path / "b.zip"
    bundle.write_bytes(exported.content)
    with zipfile.ZipFile(bundle) as archive:
        assert json.loads(archive.read("checkpoint.json")) == _signed(second)
        assert len(json.loads(archive.read("cosignatures.json"))) == 1
    witness_pub = tmp_path / "witness.pub.pem"
    witness_pub.write_bytes(public_key_pem(witness_key))
    stranger_pub = tmp_path / "stranger.pub.pem"
    stranger_pub.write_bytes(public_key_pem(Ed25519PrivateKey.generate()))
    base = ["verify-bundle", str(bundle), "--public-key", str(auditor["log_keys"])]
    ok = CliRunner().invoke(cli, [*base, "--witness-key", str(witness_pub)])
    assert ok.exit_code == 0, ok.output
    assert "cosigned by 1 trusted witness" in ok.output
    refused = CliRunner().invoke(
        cli, [*base, "--witness-key", str(witness_pub), "--witness-key", str(stranger_pub)]
    )
    assert refused.exit_code == 1
    assert "not cosigned by witness" in refused.output


def test_the_witness_refuses_a_rewritten_log_even_when_it_is_re_signed(
    client: TestClient,
    app: Any,
    backend: str,
    settings: Settings,
    auditor: dict[str, Path],
) -> None:
    fill(client, 12)
    seen = checkpoint(client)
    _witness(client, auditor)
    fill(client, 4)
    # The attacker holds the database and the key directory: rewrite, re-chain, wipe the
    # tree and checkpoints, delete the checkpointer's state file, have the forgery signed.
    rewrite_and_wipe(app, backend)
    state_path(settings.signing_key_path).unlink()
    forged = checkpoint(client)
    assert forged["tree_size"] > seen["tree_size"]
    with pytest.raises(WitnessRefusal, match="not a consistent extension"):
        _witness(client, auditor)
    assert read_state(auditor["state_path"]) == Checkpoint.from_dict(_signed(seen))
    assert client.get("/v1/log/cosignatures").json()["items"] == []


def test_cosignatures_that_do_not_verify_are_refused(client: TestClient) -> None:
    fill(client, 3)
    made = Checkpoint.from_dict(_signed(checkpoint(client)))
    key = Ed25519PrivateKey.generate()
    good = cosign(key, made, 1_800_000_000).to_dict()
    bad = {**good, "time": good["time"] + 1}  # signed for another time
    r = client.post("/v1/log/cosignatures", json={"checkpoint": made.to_dict(), "cosignature": bad})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cosignature"
    other = {**made.to_dict(), "tree_size": made.tree_size - 1}
    r = client.post("/v1/log/cosignatures", json={"checkpoint": other, "cosignature": good})
    assert r.status_code == 404
    r = client.post(
        "/v1/log/cosignatures",
        json={"checkpoint": made.to_dict(), "cosignature": good, "witness": "me"},
    )
    assert r.status_code == 422 and "witness" in r.text
    r = client.post(
        "/v1/log/cosignatures", json={"checkpoint": made.to_dict(), "cosignature": good}
    )
    assert r.status_code == 201
    again = client.post(
        "/v1/log/cosignatures", json={"checkpoint": made.to_dict(), "cosignature": good}
    )
    assert again.status_code == 200  # kept once
    assert len(client.get("/v1/log/cosignatures").json()["items"]) == 1
