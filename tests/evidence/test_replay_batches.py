"""Replay's fast path over many batches: every check still names the right record, a
verified line says what the stored event says, and a stream abandoned midway lets go
of its connection."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.testclient import TestClient

from service.config import Settings
from service.evidence.checkpoints import signing_key
from service.evidence.replay import replay
from service.evidence.schemas import Scope
from tests.evidence.dbhelpers import checkpoint, fill, rechain_from, without_triggers


def run(
    app: Any, settings: Settings, scope: Scope | None = None, batch: int = 10
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Replay with small batches, so that a few dozen records cross several of them."""
    key = signing_key(settings.signing_key_path).public_key()
    with app.state.sessionmaker() as session:
        out = b"".join(replay(session=session, scope=scope or Scope(), public_key=key, batch=batch))
    lines = [orjson.loads(line) for line in out.splitlines()]
    return lines[:-1], lines[-1]["trailer"]


def test_tampering_inside_later_batches_is_reported_for_the_right_records(
    client: TestClient, app: Any, backend: str, settings: Settings
) -> None:
    fill(client, 60)
    made = checkpoint(client)
    without_triggers(
        app,
        backend,
        "UPDATE log_records SET actor_id = 'mallory' WHERE seq = 23",
        'UPDATE log_payloads SET body = \'{"attributes": {"n": 999}, "raw": null}\' WHERE seq = 41',
        "UPDATE log_payloads SET body = 'not json' WHERE seq = 45",
    )
    records, trailer = run(app, settings)
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    assert {r["seq"] for r in records if not r["verified"]} == {23, 41, 45}
    assert trailer["verified"] is False and trailer["first_bad_seq"] == 23
    assert "content changed" in trailer["reason"]
    # Only the changed record falls out of the signed tree; the payloads are not in it.
    assert trailer["anchored"] == made["tree_size"] - 1
    by_seq = {r["seq"]: r for r in records}
    assert by_seq[23]["actor"]["id"] == "mallory"
    assert by_seq[41]["attributes"] == {"n": 999}  # shown as stored, marked unverified
    assert by_seq[45]["attributes"] is None and by_seq[45]["erased"] is False

    _, trailer = run(app, settings, Scope(from_seq=30))
    assert trailer["first_bad_seq"] == 41 and "payload changed" in trailer["reason"]


def test_rewritten_suffix_from_the_middle_of_a_batch(
    client: TestClient, app: Any, backend: str, settings: Settings
) -> None:
    fill(client, 40)
    checkpoint(client)
    statements, prev = rechain_from(app, 27)
    without_triggers(app, backend, *statements, f"UPDATE log_head SET hash = '{prev}'")
    records, trailer = run(app, settings, batch=8)
    assert trailer["verified"] is False and trailer["first_bad_seq"] == 27
    assert "signed tree" in trailer["reason"]
    assert min(r["seq"] for r in records if not r["verified"]) == 27
    assert all(r["verified"] for r in records if r["seq"] < 27)


def test_scoped_replay_across_batches_checks_each_link_and_anchor(
    client: TestClient, app: Any, settings: Settings
) -> None:
    fill(client, 50)
    made = checkpoint(client)
    records, trailer = run(app, settings, Scope(actor="bob@example.com"), batch=4)
    assert len(records) >= 16 and {r["actor"]["id"] for r in records} == {"bob@example.com"}
    assert trailer["verified"] is True
    assert trailer["anchored"] == len([r for r in records if r["seq"] <= made["tree_size"]])


def test_a_scope_that_matches_nothing_answers_an_empty_verified_replay(
    client: TestClient, app: Any, settings: Settings
) -> None:
    fill(client, 12)
    checkpoint(client)
    records, trailer = run(app, settings, Scope(actor="nobody@example.com"))
    assert records == [] and trailer["verified"] is True
    # Through the API as well: a complete NDJSON body ending in its trailer.
    answer = client.get("/v1/replay", params={"actor": "nobody@example.com", "to_seq": 5})
    assert answer.status_code == 200
    lines = [orjson.loads(line) for line in answer.content.splitlines()]
    assert len(lines) == 1 and lines[0]["trailer"]["verified"] is True


def test_a_verified_line_is_the_stored_event_plus_verified(
    client: TestClient, app: Any, settings: Settings
) -> None:
    """The fast path splices checked bytes; what a client parses must equal the event as
    ``GET /v1/events/{seq}`` returns it, for payloads JSON can be picky about too."""
    sent = [
        {"time": "2026-11-30T12:00:00Z", "source": "gw", "action": "model.invoke", "id": "u1",
         "actor": {"type": "user", "id": "zoë@example.com"},
         "attributes": {"prompt": "tab\there \u2028 \"q\" \\ 😀", "big": 2**53 - 1,
                        "f": 1e-7, "neg": -0.5, "nested": {"b": [1, {"a": None}]}},
         "raw": {"line": "<14>1 - - \u00e9"}},
        {"time": "2026-11-30T12:00:01Z", "source": "gw", "action": "model.invoke", "id": "u2",
         "attributes": {}},
    ]  # fmt: skip
    response = client.post("/v1/events", json=sent)
    assert response.status_code == 200, response.text
    fill(client, 12)
    checkpoint(client)
    records, trailer = run(app, settings, batch=5)
    assert trailer["verified"] is True
    for record in records:
        stored = client.get(f"/v1/events/{record['seq']}").json()
        assert record == {**stored, "verified": True}


def test_a_stream_left_midway_releases_its_connection(
    client: TestClient, app: Any, settings: Settings
) -> None:
    fill(client, 40)
    checkpoint(client)
    key = signing_key(settings.signing_key_path).public_key()
    pool = app.state.engine.pool
    before = pool.checkedout()
    with app.state.sessionmaker() as session:
        stream = replay(session=session, scope=Scope(), public_key=key, batch=5)
        first = next(stream)
        assert first.count(b"\n") == 5
        stream.close()  # the client went away
    assert pool.checkedout() == before
    _, trailer = run(app, settings)  # the pooled connections still work
    assert trailer["verified"] is True
