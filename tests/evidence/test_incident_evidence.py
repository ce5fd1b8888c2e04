"""Incident scope: replay and bundles anchored to the checkpoint of the log at open."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.cli import app as cli
from tests.evidence.dbhelpers import checkpoint, fill, replay_lines


def _open(client: TestClient, evidence: list[int]) -> dict[str, Any]:
    response = client.post("/v1/incidents", json={"title": "weights pulled", "evidence": evidence})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _alice_seqs(client: TestClient) -> list[int]:
    records, _ = replay_lines(client, actor="alice@example.com", source="inference-gateway")
    return [r["seq"] for r in records]


def test_incident_replay_is_evidence_plus_the_actors_window(client: TestClient) -> None:
    fill(client, 30)
    alice = _alice_seqs(client)
    incident = _open(client, [alice[2], alice[5]])
    records, trailer = replay_lines(client, incident=incident["id"])
    seqs = [r["seq"] for r in records]
    # Alice's events from the first to the last evidence time; nobody else's.
    assert seqs == alice[2:6]
    assert trailer["verified"] is True and trailer["scope"] == {"incident": incident["id"]}
    response = client.get("/v1/replay", params={"incident": "INC-999"})
    assert response.status_code == 404


def test_incident_bundle_proves_evidence_under_the_checkpoint_at_open(
    client: TestClient, tmp_path: Path
) -> None:
    fill(client, 20)
    alice = _alice_seqs(client)
    incident = _open(client, [alice[1], alice[3]])
    at_open = incident["anchor_checkpoint"]  # signed with the open, in its transaction
    assert at_open is not None
    checkpoint(client)
    shown = client.get(f"/v1/incidents/{incident['id']}").json()
    assert shown["anchor_checkpoint"] == at_open
    fill(client, 10)
    checkpoint(client)  # later checkpoints do not move the anchor
    assert (
        client.get(f"/v1/incidents/{incident['id']}").json()["anchor_checkpoint"]
        == shown["anchor_checkpoint"]
    )
    response = client.post("/v1/exports", json={"incident": incident["id"]})
    assert response.status_code == 200, response.text
    path, key = tmp_path / "inc.zip", tmp_path / "pub.pem"
    path.write_bytes(response.content)
    key.write_bytes(client.get("/v1/log/public-key").content)
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    anchor = manifest["anchor"]
    assert anchor["incident"] == incident["id"] and anchor["evidence_seqs"] == [alice[1], alice[3]]
    assert anchor["checkpoint"]["tree_size"] == at_open["tree_size"]
    result = CliRunner().invoke(cli, ["verify-bundle", str(path), "--public-key", str(key)])
    assert result.exit_code == 0, result.output
    assert f"{incident['id']}: 2 evidence records were in the log" in result.output

    # A forged anchor (another tree) is caught.
    with zipfile.ZipFile(path) as archive:
        contents = {n: archive.read(n) for n in archive.namelist()}
    anchor["consistency_path"] = list(reversed(anchor["consistency_path"]))
    manifest["anchor"] = anchor
    contents["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
    result = CliRunner().invoke(cli, ["verify-bundle", str(path), "--public-key", str(key)])
    assert result.exit_code == 1 and "is not a prefix" in result.output
