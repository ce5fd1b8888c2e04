"""Verified replay: ordered, scoped, re-verified, with a trailer naming the checkpoint."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.cli import app as cli
from tests.evidence.dbhelpers import (
    checkpoint,
    fill,
    rechain_from,
    replay_lines,
    without_triggers,
)


def test_clean_replay_is_verified_and_anchored(client: TestClient) -> None:
    fill(client, 25)
    made = checkpoint(client)
    records, trailer = replay_lines(client)
    seqs = [r["seq"] for r in records]
    assert seqs == sorted(seqs) and seqs[0] == 1 and len(seqs) >= 25
    assert all(r["verified"] and len(r["hash"]) == 64 for r in records)
    assert trailer["verified"] is True and trailer["first_bad_seq"] is None
    assert trailer["count"] == len(records)
    assert trailer["anchored"] == made["tree_size"]
    assert trailer["checkpoint"] == {k: v for k, v in made.items() if k != "id"}


def test_scoped_replay_verifies_records_with_gaps(client: TestClient) -> None:
    fill(client, 30)
    checkpoint(client)
    records, trailer = replay_lines(client, actor="bob@example.com", action="model.*")
    assert records and {r["actor"]["id"] for r in records} == {"bob@example.com"}
    assert trailer["verified"] is True and trailer["anchored"] == len(records)
    assert trailer["scope"] == {"actor": "bob@example.com", "action": "model.*"}
    records, trailer = replay_lines(client, from_seq=5, to_seq=9)
    assert [r["seq"] for r in records] == [5, 6, 7, 8, 9] and trailer["verified"]


def test_records_after_the_checkpoint_are_chain_checked_only(client: TestClient) -> None:
    fill(client, 10)
    made = checkpoint(client)
    fill(client, 5)
    _, trailer = replay_lines(client)
    assert trailer["verified"] is True
    assert trailer["anchored"] == made["tree_size"] < trailer["count"]


def test_replay_without_any_checkpoint(client: TestClient) -> None:
    fill(client, 4)
    _, trailer = replay_lines(client)
    assert trailer["verified"] is True and trailer["checkpoint"] is None
    assert trailer["anchored"] == 0


def test_changed_record_fails_the_trailer(client: TestClient, app: Any, backend: str) -> None:
    fill(client, 20)
    checkpoint(client)
    without_triggers(app, backend, "UPDATE log_records SET actor_id = 'mallory' WHERE seq = 6")
    records, trailer = replay_lines(client)
    assert trailer["verified"] is False and trailer["first_bad_seq"] == 6
    assert "content changed" in trailer["reason"]
    assert [r["seq"] for r in records if not r["verified"]] == [6]


def test_rewritten_suffix_is_caught_by_the_checkpoint(
    client: TestClient, app: Any, backend: str
) -> None:
    """Rewrite seq 6 and re-chain everything after it: links hold, the signed tree does not."""
    fill(client, 12)
    checkpoint(client)
    statements, prev = rechain_from(app, 6)
    statements.append(f"UPDATE log_head SET hash = '{prev}'")
    without_triggers(app, backend, *statements)
    _, trailer = replay_lines(client)
    assert trailer["verified"] is False and trailer["first_bad_seq"] == 6
    assert "signed tree" in trailer["reason"]
    _, trailer = replay_lines(client, actor="mallory")
    assert trailer["verified"] is False and trailer["first_bad_seq"] == 6


def test_cli_replay_writes_the_stream_and_fails_on_tampering(
    client: TestClient, app: Any, backend: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(client, 9)
    checkpoint(client)
    monkeypatch.setattr("service.evidence.cli.api_client", lambda **_: _Borrowed(client))
    out = tmp_path / "replay.ndjson"
    result = CliRunner().invoke(cli, ["replay", "--actor", "alice@example.com", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output
    assert out.read_text().splitlines()[-1].startswith('{"trailer"')
    without_triggers(app, backend, "UPDATE log_records SET action = 'model.read' WHERE seq = 4")
    result = CliRunner().invoke(cli, ["replay", "-o", str(out)])
    assert result.exit_code == 1 and "seq 4" in result.output


class _Borrowed:
    """The test client as a context manager that does not close it."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def __enter__(self) -> TestClient:
        return self.client

    def __exit__(self, *_: object) -> None:
        return None


def test_bad_scope_is_422(client: TestClient) -> None:
    response = client.get("/v1/replay", params={"from_seq": 9, "to_seq": 3})
    assert response.status_code == 422
    response = client.get("/v1/replay", params={"from_seq": 0})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "from_seq"


def test_replay_lines_carry_the_payload_as_sent_and_erasures(client: TestClient) -> None:
    """A verified record's attributes and raw appear in its line exactly as shipped (they
    are copied from the stored canonical payload, not re-encoded), next to the record
    fields; an erased one says so."""
    sent = [
        {"time": "2026-11-30T12:00:00Z", "source": "gw", "action": "model.invoke",
         "id": "p1", "attributes": {"prompt": "héllo \"quoted\"\n", "n": 1.5, "z": [1, {}]}},
        {"time": "2026-11-30T12:00:01Z", "source": "gw", "action": "model.invoke",
         "id": "p2", "attributes": {"secret": "erase me"}},
    ]  # fmt: skip
    stored = client.post("/v1/events", json=sent).json()
    first = stored["first_seq"]
    r = client.post(f"/v1/events/{first + 1}/erase", json={"reason": "personal data"})
    assert r.status_code == 200, r.text
    records, trailer = replay_lines(client, from_seq=first, to_seq=first + 1)
    assert trailer["verified"] is True
    kept, erased = records
    assert kept["id"] == "p1" and kept["source"] == "gw" and kept["verified"] is True
    assert kept["attributes"] == sent[0]["attributes"] and kept["raw"] is None
    assert kept["erased"] is False and "v" not in kept
    assert erased["id"] == "p2" and erased["erased"] is True
    assert erased["attributes"] is None and erased["verified"] is True
