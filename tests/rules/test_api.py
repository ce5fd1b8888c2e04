"""GET /v1/rules[/{id}], POST /v1/rules/reload and /backtest (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from service.auth.schemas import Scope
from service.db import session_scope
from service.incidents.models import Incident
from service.rules.models import RuleStats
from service.rules.ruleset import RuleRegistry
from tests.rules import live
from tests.rules.conftest import rule_yaml
from tests.rules.packs import PACK, SCENARIOS, ev

BURST_ID = "00000000-0000-4000-8000-000000000011"


@pytest.fixture
def pack(app: Any, tmp_path: Path) -> Path:
    directory = live.write_rules(tmp_path / "pack", PACK)
    app.state.rules = RuleRegistry(directory)
    return directory


def test_list_and_detail_with_counters(client: TestClient, sessions: Any, pack: Path) -> None:
    live.ingest(client, SCENARIOS["denied_burst"])
    live.drain(live.runner(pack), sessions)
    page = client.get("/v1/rules").json()
    assert page["errors"] == [] and page["next_cursor"] is None
    by_id = {r["id"]: r for r in page["items"]}
    burst = by_id[BURST_ID]
    assert burst["kind"] == "event_count" and burst["emits"] and burst["file"] == "event_count.yml"
    counters = burst["counters"]
    assert counters["incidents_opened"] == 1 and counters["firings"] == 2
    assert counters["events_matched"] == 2 and counters["last_fired"] is not None
    base = by_id["00000000-0000-4000-8000-000000000001"]
    assert not base["emits"] and base["counters"]["events_matched"] == 4
    detail = client.get(f"/v1/rules/{BURST_ID}").json()
    assert detail["references"] == ["00000000-0000-4000-8000-000000000001"]
    assert detail["group_by"] == ["actor.id"] and detail["timespan_seconds"] == 60
    assert detail["content_hash"] == burst["content_hash"] and detail["severity"] == "high"
    assert client.get("/v1/rules/denied_burst").json()["id"] == BURST_ID  # by name too
    missing = client.get("/v1/rules/nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


def test_load_errors_are_listed(client: TestClient, app: Any, tmp_path: Path) -> None:
    directory = live.write_rules(
        tmp_path / "mixed",
        {"good.yml": PACK["event_count.yml"], "bad.yml": "title: x\nid: 1\nlevel: high\n"},
    )
    app.state.rules = RuleRegistry(directory)
    page = client.get("/v1/rules").json()
    assert [e["file"] for e in page["errors"]] == ["bad.yml"]
    assert len(page["items"]) == 2


def test_scopes(client: TestClient, make_token: Callable[..., str], pack: Path) -> None:
    read = {"Authorization": f"Bearer {make_token(Scope.read)}"}
    ingest = {"Authorization": f"Bearer {make_token(Scope.ingest)}"}
    assert client.get("/v1/rules", headers=read).status_code == 200
    assert client.post("/v1/rules/backtest", json={}, headers=read).status_code == 200
    assert client.get("/v1/rules", headers=ingest).status_code == 403
    assert client.post("/v1/rules/reload", headers=read).status_code == 403
    assert client.post("/v1/rules/reload").status_code == 200


def test_reload_reaches_the_runner(client: TestClient, sessions: Any, pack: Path) -> None:
    (pack / "temporal.yml").unlink()
    task = live.runner(pack)
    live.ingest(client, SCENARIOS["denied_burst"])
    live.drain(task, sessions)
    (pack / "temporal.yml").write_text(PACK["temporal.yml"])
    out = client.post("/v1/rules/reload").json()
    assert out["rules"] == 10 and out["errors"] == [] and out["generation"] == 1
    live.ingest(client, SCENARIOS["failure_and_key"])
    live.drain(task, sessions)
    rules = {rule_id for rule_id, _ in live.incidents(sessions).values()}
    assert "00000000-0000-4000-8000-000000000014" in rules
    head = client.get("/v1/events", params={"action": "rules.reload"}).json()["items"]
    assert len(head) == 1


def test_backtest_equals_live_and_has_no_side_effects(
    client: TestClient, sessions: Any, pack: Path
) -> None:
    seqs = [s for evs in SCENARIOS.values() for s in live.ingest(client, evs)]
    live.drain(live.runner(pack), sessions)
    live_incidents = live.incidents(sessions)
    with session_scope(sessions) as session:
        before = (
            session.scalar(select(func.count()).select_from(Incident)),
            sorted((s.rule_id, s.events_matched) for s in session.scalars(select(RuleStats))),
        )
    deployed = client.post("/v1/rules/backtest", json={"from_seq": seqs[0], "to_seq": seqs[-1]})
    assert deployed.status_code == 200, deployed.text
    body = deployed.json()
    assert {
        i["dedup_key"]: (i["rule_id"], tuple(i["evidence_seqs"])) for i in body["incidents"]
    } == (live_incidents)
    assert body["events"] == len(seqs) and not body["truncated"]
    # Candidate rules as YAML text: the same pack gives the same answer.
    candidate = client.post(
        "/v1/rules/backtest",
        json={"rules": list(PACK.values()), "since": "2026-11-30T00:00:00Z"},
    ).json()
    assert [i["dedup_key"] for i in candidate["incidents"]] == list(live_incidents)
    with session_scope(sessions) as session:
        after = (
            session.scalar(select(func.count()).select_from(Incident)),
            sorted((s.rule_id, s.events_matched) for s in session.scalars(select(RuleStats))),
        )
    assert after == before


def test_backtest_range_and_candidate_errors(client: TestClient, pack: Path) -> None:
    seqs = live.ingest(client, SCENARIOS["denied_burst"])
    narrow = client.post(
        "/v1/rules/backtest",
        json={"since": "2026-11-30T12:00:25Z", "until": "2026-12-01T00:00:00Z"},
    ).json()
    # Events before `since` only warm the windows: the burst's last event extends it.
    assert [i["evidence_seqs"] for i in narrow["incidents"]] == [[seqs[-1]]]
    bad = client.post("/v1/rules/backtest", json={"rules": ["title: x\nid: 1\n"]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["file"] == "candidate-1.yml"
    mixed = client.post(
        "/v1/rules/backtest", json={"rules": [PACK["event_count.yml"], "title: broken\n"]}
    ).json()
    assert {e["file"] for e in mixed["errors"]} == {"candidate-2.yml"}
    assert len(mixed["incidents"]) == 1
    reversed_range = client.post("/v1/rules/backtest", json={"from_seq": 5, "to_seq": 2})
    assert reversed_range.status_code == 422


def test_candidate_rules_need_admin_and_cannot_freeze_the_server(
    client: TestClient, make_token: Callable[..., str], pack: Path
) -> None:
    # A read token may backtest the deployed pack, but candidate rules are new code
    # running over the whole trail: admin only.
    live.ingest(client, [ev(i, "model.invoke", "a" * 40 + "!") for i in range(3)])
    hostile = rule_yaml("sel: {actor.id|re: '^(a+)+$'}\ncondition: sel", name="redos")
    reader = {"Authorization": f"Bearer {make_token(Scope.read)}"}
    refused = client.post("/v1/rules/backtest", json={"rules": [hostile]}, headers=reader)
    assert refused.status_code == 403 and "admin" in refused.json()["detail"]
    assert client.post("/v1/rules/backtest", json={}, headers=reader).status_code == 200
    # As admin the catastrophic pattern runs on RE2: answered at once, no match.
    answered = client.post("/v1/rules/backtest", json={"rules": [hostile]})
    assert answered.status_code == 200, answered.text
    assert answered.json()["incidents"] == [] and answered.json()["events"] >= 3
