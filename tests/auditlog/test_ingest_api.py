"""POST /v1/events: shapes, atomicity, idempotency, limits, durability."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event as sa_event
from sqlalchemy import func, select

from service.auditlog.models import LogRecord
from service.config import Settings
from tests.conftest import event

NDJSON = {"content-type": "application/x-ndjson"}


def count(app: Any) -> int:
    with app.state.sessionmaker() as s:
        return int(s.execute(select(func.count()).select_from(LogRecord)).scalar_one())


def user_events(app: Any) -> int:
    with app.state.sessionmaker() as s:
        q = select(func.count()).select_from(LogRecord).where(LogRecord.source != "custody")
        return int(s.execute(q).scalar_one())


def test_one_event_is_stored_and_acknowledged_with_chain_head(client: TestClient, app: Any) -> None:
    before = count(app)
    r = client.post("/v1/events", json=event(id="e-1"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 1 and body["duplicates"] == 0 and body["rejected"] == 0
    assert body["first_seq"] == body["last_seq"] == before + 1
    head = client.get("/v1/log/head").json()
    assert head == {"seq": before + 1, "hash": body["head_hash"]}
    stored = client.get(f"/v1/events/{body['first_seq']}").json()
    assert stored["action"] == "model.invoke"
    assert stored["time"] == "2026-11-30T12:00:00.123000Z"
    assert stored["attributes"] == {"tokens_in": 512, "tokens_out": 128}
    assert stored["hash"] == body["head_hash"]


def test_array_and_ndjson_bodies(client: TestClient, app: Any) -> None:
    r = client.post("/v1/events", json=[event(id=f"a{i}") for i in range(5)])
    assert r.json()["accepted"] == 5
    lines = b"\n".join(orjson.dumps(event(id=f"n{i}")) for i in range(3)) + b"\n\n"
    r = client.post("/v1/events", content=lines, headers=NDJSON)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 3
    assert user_events(app) == 8


def test_atomic_batch_lists_every_bad_item_and_stores_nothing(client: TestClient, app: Any) -> None:
    before = user_events(app)
    batch = [
        event(),
        event(action="Model.Invoke"),  # not lowercase dotted
        event(time="yesterday"),
        event(outcome="maybe"),
        {k: v for k, v in event().items() if k != "action"},
        event(action="BAD", time="2026-02-30T00:00:00Z"),  # both named in one answer
    ]
    r = client.post("/v1/events", json=batch)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    errors = r.json()["errors"]
    assert {(e["index"], e["field"]) for e in errors} == {
        (1, "action"),
        (2, "time"),
        (3, "outcome"),
        (4, "action"),
        (5, "action"),
        (5, "time"),
    }
    assert user_events(app) == before


def test_partial_stores_valid_items_and_lists_rejected(client: TestClient, app: Any) -> None:
    batch = [event(id="p1"), event(action="BAD"), event(id="p3")]
    r = client.post("/v1/events?partial=true", json=batch)
    assert r.status_code == 200
    body = r.json()
    assert body["accepted"] == 2 and body["rejected"] == 1
    assert body["errors"] == [
        {"index": 1, "field": "action", "message": body["errors"][0]["message"]}
    ]
    assert user_events(app) == 2


def test_retry_is_a_duplicate_and_changed_content_a_conflict(client: TestClient, app: Any) -> None:
    first = client.post("/v1/events", json=[event(id="k1"), event(id="k2")]).json()
    again = client.post("/v1/events", json=[event(id="k1"), event(id="k2")]).json()
    assert again["accepted"] == 0 and again["duplicates"] == 2
    assert again["head_hash"] == first["head_hash"]
    r = client.post("/v1/events", json=[event(id="k3"), event(id="k1", outcome="failure")])
    assert r.status_code == 409
    assert r.json()["errors"][0]["index"] == 1
    assert user_events(app) == 2  # k3 was not stored either: atomic
    r = client.post(
        "/v1/events?partial=true", json=[event(id="k3"), event(id="k1", outcome="failure")]
    )
    assert r.json()["accepted"] == 1 and r.json()["rejected"] == 1
    # the same key under another source is another event
    assert client.post("/v1/events", json=event(id="k1", source="other")).json()["accepted"] == 1


def test_duplicate_within_one_batch_is_stored_once(client: TestClient, app: Any) -> None:
    r = client.post("/v1/events", json=[event(id="d"), event(id="d")]).json()
    assert (r["accepted"], r["duplicates"]) == (1, 1)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (event(unknown_field=1), "unknown_field"),
        (event(attributes={"n": 2**53}), "attributes.n"),
        (event(attributes={"deep": [{"n": -(2**60)}]}), "attributes.deep[0].n"),
        (event(actor={"id": "a", "extra": "x"}), "actor.extra"),
        (event(time="2026-11-30T12:00:00"), "time"),
        (event(time=1700000000), "time"),
        (event(attributes={"blob": "x" * 70_000}), "attributes"),
        (event(source=None), "source"),
    ],
)
def test_bad_items_get_422_naming_the_field(
    client: TestClient, app: Any, payload: dict[str, Any], field: str
) -> None:
    r = client.post("/v1/events", json=payload)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    fields = [e["field"] for e in r.json()["errors"]]
    assert field in fields
    assert user_events(app) == 0


def test_non_finite_number_is_rejected(client: TestClient, app: Any) -> None:
    body = b'{"time":"2026-11-30T12:00:00Z","source":"s","action":"a","attributes":{"x":1e400}}'
    r = client.post("/v1/events", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "attributes.x"
    assert user_events(app) == 0


def test_malformed_ndjson_line_is_named(client: TestClient, app: Any) -> None:
    lines = orjson.dumps(event()) + b"\n" + b'{"time": oops}\n' + orjson.dumps(event())
    r = client.post("/v1/events", content=lines, headers=NDJSON)
    assert r.status_code == 422
    assert "line 2" in r.json()["errors"][0]["message"]
    assert user_events(app) == 0


def test_malformed_json_body(client: TestClient, app: Any) -> None:
    r = client.post("/v1/events", content=b"[{", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert "Malformed JSON" in r.json()["detail"]


def test_wrong_content_type_is_415(client: TestClient) -> None:
    r = client.post("/v1/events", content=b"hello", headers={"content-type": "text/plain"})
    assert r.status_code == 415
    assert r.headers["content-type"].startswith("application/problem+json")


def test_too_many_events_is_413(client: TestClient, app: Any) -> None:
    app.state.settings.max_events_per_request = 10
    r = client.post("/v1/events", json=[event() for _ in range(11)])
    assert r.status_code == 413
    assert user_events(app) == 0


def test_body_over_limit_is_413_before_reading_it(client: TestClient, app: Any) -> None:
    app.state.settings.max_body_bytes = 4096
    r = client.post("/v1/events", json=[event() for _ in range(40)])
    assert r.status_code == 413
    assert user_events(app) == 0


def test_commit_failure_gives_5xx_and_nothing_is_stored(client: TestClient, app: Any) -> None:
    """The acknowledgement is sent only after the commit: a failing commit is a 500."""
    engine = app.state.engine

    def mark(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "UPDATE log_head" in statement:  # the append path (COPY bypasses this hook)
            conn.info["wrote_log"] = True

    def boom(conn: Any) -> None:
        if conn.info.pop("wrote_log", False):
            raise RuntimeError("injected commit failure")

    sa_event.listen(engine, "before_cursor_execute", mark)
    sa_event.listen(engine, "commit", boom)
    try:
        r = client.post("/v1/events", json=event(id="c1"))
    finally:
        sa_event.remove(engine, "commit", boom)
        sa_event.remove(engine, "before_cursor_execute", mark)
    assert r.status_code == 500
    assert user_events(app) == 0
    assert client.post("/v1/events", json=event(id="c1")).json()["accepted"] == 1


def test_restart_continues_the_chain(settings: Settings, make_token: Any) -> None:
    from service.app import create_app

    token = make_token()
    heads = []
    for _ in range(2):
        with TestClient(create_app(settings)) as c:
            c.headers["Authorization"] = f"Bearer {token}"
            r = c.post("/v1/events", json=[event(), event()]).json()
            heads.append(r)
            report = c.get("/v1/log/verify").json()
            assert report["ok"], report
    assert heads[1]["first_seq"] > heads[0]["last_seq"]
    with TestClient(create_app(settings)) as c:
        c.headers["Authorization"] = f"Bearer {token}"
        first_of_second = c.get(f"/v1/events/{heads[1]['first_seq']}").json()
        last_of_first = c.get(f"/v1/events/{heads[0]['last_seq']}").json()
    assert first_of_second["prev_hash"] != "0" * 64
    assert last_of_first["hash"] == heads[0]["head_hash"]


def test_a_large_retry_mixing_sources_is_recognised_in_full(client: TestClient, app: Any) -> None:
    """The idempotency lookup asks once per source for every id of the batch (no chunks
    of a few hundred): a retried batch of 1,500 events over two sources, with a few new
    and one changed event, is sorted out exactly."""
    batch = [event(id=f"r{i}", source="gw-a" if i % 2 else "gw-b") for i in range(1500)]
    first = client.post("/v1/events", json=batch).json()
    assert first["accepted"] == 1500
    retry = [*batch, event(id="r0", source="gw-a"), event(id="new", source="gw-b")]
    again = client.post("/v1/events", json=retry).json()
    # r0 exists under gw-b only, so under gw-a it is a new event, like "new".
    assert (again["accepted"], again["duplicates"]) == (2, 1500)
    changed = client.post(
        "/v1/events", json=[*batch[:10], event(id="r7", source="gw-a", outcome="failure")]
    )
    assert changed.status_code == 409
    assert [e["index"] for e in changed.json()["errors"]] == [10]
    assert user_events(app) == 1502
