"""Evidence bundles exported over HTTP, verified offline by the CLI."""

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
from service.evidence.keys import public_key_pem
from tests.evidence.dbhelpers import checkpoint, fill


@pytest.fixture
def bundle(client: TestClient, tmp_path: Path) -> tuple[Path, Path]:
    fill(client, 24)
    response = client.post("/v1/exports", json={"actor": "bob@example.com"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    path = tmp_path / "bundle.zip"
    path.write_bytes(response.content)
    key = tmp_path / "custody.pub.pem"
    key.write_bytes(client.get("/v1/log/public-key").content)
    return path, key


def _verify(path: Path, key: Path) -> Any:
    return CliRunner().invoke(cli, ["verify-bundle", str(path), "--public-key", str(key)])


def _rewrite(path: Path, member: str, edit: Any) -> None:
    with zipfile.ZipFile(path) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    lines = contents[member].decode().splitlines()
    contents[member] = ("\n".join(edit(lines)) + "\n").encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)


def test_bundle_verifies_offline(bundle: tuple[Path, Path]) -> None:
    path, key = bundle
    result = _verify(path, key)
    assert result.exit_code == 0, result.output
    assert "OK 8 records, 8 inclusion proofs, 8 payloads" in result.output
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["scope"] == {"actor": "bob@example.com"}
    assert manifest["key"]["key_id"] == manifest["checkpoint"]["key_id"]


def test_export_reuses_a_covering_checkpoint(client: TestClient) -> None:
    fill(client, 5)
    made = checkpoint(client)
    response = client.post("/v1/exports", json={"to_seq": 3})
    assert response.status_code == 200
    assert [c["id"] for c in client.get("/v1/log/checkpoints").json()["items"]] == [made["id"]]


def test_changed_record_fails(bundle: tuple[Path, Path]) -> None:
    path, key = bundle

    def edit(lines: list[str]) -> list[str]:
        entry = json.loads(lines[2])
        entry["record"]["action"] = "model.read"
        lines[2] = json.dumps(entry)
        return lines

    _rewrite(path, "records.ndjson", edit)
    result = _verify(path, key)
    assert result.exit_code == 1
    assert "hash does not match its content" in result.output


def test_swapped_proof_fails(bundle: tuple[Path, Path]) -> None:
    path, key = bundle

    def edit(lines: list[str]) -> list[str]:
        first, second = json.loads(lines[0]), json.loads(lines[1])
        first["path"], second["path"] = second["path"], first["path"]
        lines[0], lines[1] = json.dumps(first), json.dumps(second)
        return lines

    _rewrite(path, "proofs.ndjson", edit)
    result = _verify(path, key)
    assert result.exit_code == 1
    assert "inclusion proof does not lead to the checkpoint root" in result.output


def test_wrong_key_fails(bundle: tuple[Path, Path], tmp_path: Path) -> None:
    path, _ = bundle
    other = tmp_path / "other.pub.pem"
    other.write_bytes(public_key_pem(Ed25519PrivateKey.generate()))
    result = _verify(path, other)
    assert result.exit_code == 1
    assert "is not among the given public keys" in result.output


def test_export_cli_writes_the_bundle(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(client, 6)

    class Borrowed:
        def __enter__(self) -> TestClient:
            return client

        def __exit__(self, *_: object) -> None:
            return None

    monkeypatch.setattr("service.evidence.cli.api_client", lambda **_: Borrowed())
    out = tmp_path / "b.zip"
    result = CliRunner().invoke(cli, ["export", "--from-seq", "2", "--to-seq", "4", "-o", str(out)])
    assert result.exit_code == 0, result.output
    key = tmp_path / "k.pem"
    key.write_bytes(client.get("/v1/log/public-key").content)
    result = _verify(out, key)
    assert result.exit_code == 0 and "OK 3 records" in result.output


def test_bad_export_scope_is_422(client: TestClient) -> None:
    for body in ({"from_seq": 0}, {"actors": "x"}, {"from_seq": 5, "to_seq": 2}):
        response = client.post("/v1/exports", json=body)
        assert response.status_code == 422, body
        assert response.headers["content-type"].startswith("application/problem+json")
