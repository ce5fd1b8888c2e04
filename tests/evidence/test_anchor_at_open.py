"""Anchors that mean what they say (issue 12, item 8): opening an incident signs a
checkpoint covering its `incident.open` record in the same transaction, one per batch
however many incidents open in it, so `anchor_checkpoint` is never null and is the log
exactly as it stood at the open."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from service.config import Settings
from service.evidence.keys import load_public_key
from service.evidence.signing import Checkpoint, verify_checkpoint
from tests.evidence.dbhelpers import checkpoint, fill, rewrite_and_wipe
from tests.rules import live
from tests.rules.packs import PACK, ev


def _opens(client: TestClient) -> list[int]:
    params = {"source": "custody", "action": "incident.open"}
    return [e["seq"] for e in client.get("/v1/events", params=params).json()["items"]]


def _checkpoints(client: TestClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.get("/v1/log/checkpoints").json()["items"]
    return [{k: v for k, v in c.items() if k != "id"} for c in items]


def test_an_incident_opened_over_http_is_anchored_at_its_open_record(client: TestClient) -> None:
    fill(client, 8)
    opened = client.post("/v1/incidents", json={"title": "weights pulled", "evidence": [3, 5]})
    assert opened.status_code == 201, opened.text
    anchor = opened.json()["anchor_checkpoint"]
    assert anchor is not None
    assert anchor["tree_size"] == _opens(client)[0] == opened.json()["anchor_seq"] + 1
    public_key = load_public_key(client.get("/v1/log/public-key").content)
    verify_checkpoint(public_key, Checkpoint.from_dict(anchor))
    assert _checkpoints(client) == [anchor]
    report = client.get(f"/v1/incidents/{opened.json()['id']}/report").text
    assert "Checkpoint at open:" in report and anchor["root_hash"] in report


def test_a_rules_batch_opening_many_incidents_signs_once(
    client: TestClient, app: Any, settings: Settings, tmp_path: Path
) -> None:
    pack = live.write_rules(tmp_path / "pack", {"first_seen.yml": PACK["first_seen.yml"]})
    live.ingest(
        client,
        [ev(i, "model.weights.download", f"user{i}", model=f"m{i}") for i in range(5)],
    )
    runner = live.runner(pack, signing_key_path=settings.signing_key_path)
    live.drain(runner, app.state.sessionmaker)
    incidents = client.get("/v1/incidents").json()["items"]
    assert len(incidents) == 5
    signed = _checkpoints(client)
    assert len(signed) == 1  # batched: one signature for the five opens
    assert signed[0]["tree_size"] == max(_opens(client))
    assert all(i["anchor_checkpoint"] == signed[0] for i in incidents)
    assert all(i["anchor_seq"] < signed[0]["tree_size"] for i in incidents)


def test_a_tampered_log_does_not_stop_an_incident_from_opening(
    client: TestClient, app: Any, backend: str
) -> None:
    fill(client, 10)
    checkpoint(client)
    fill(client, 3)
    rewrite_and_wipe(app, backend)
    opened = client.post("/v1/incidents", json={"title": "still raised"})
    assert opened.status_code == 201, opened.text
    assert opened.json()["anchor_checkpoint"] is None  # nothing signed over a forgery
    assert _checkpoints(client) == []


def test_an_unusable_key_does_not_stop_an_incident_from_opening(
    client: TestClient, settings: Settings
) -> None:
    fill(client, 3)
    checkpoint(client)  # the key exists and signed
    settings.signing_key_path.write_text("not a key")  # broken by hand
    with capture_logs() as logs:
        opened = client.post("/v1/incidents", json={"title": "still raised"})
    assert opened.status_code == 201, opened.text
    assert opened.json()["anchor_checkpoint"] is None
    assert [e["log_level"] for e in logs if e["event"] == "incident.anchor_failed"] == ["error"]
