"""POST /v1/rules/backtest runs within CUSTODY_BACKTEST_BUDGET_SECONDS: past it the
request ends with a 422 problem+json saying where it stopped, and nothing is written."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.rules import live
from tests.rules.conftest import rule_yaml
from tests.rules.packs import ev

REDOS = rule_yaml("sel: {actor.id|re: '^(a+)+$'}\ncondition: sel", name="redos")


def test_a_backtest_past_its_budget_is_stopped(client: TestClient, app: Any) -> None:
    # The attack of issue 12: the catastrophic pattern over values an attacker chose.
    live.ingest(client, [ev(i, "model.invoke", "a" * 30 + "!") for i in range(40)])
    head = client.get("/v1/log/head").json()
    app.state.settings.backtest_budget_seconds = 1e-6  # spent before the first event
    stopped = client.post("/v1/rules/backtest", json={"rules": [REDOS]})
    assert stopped.status_code == 422
    assert stopped.headers["content-type"] == "application/problem+json"
    body = stopped.json()
    assert body["title"] == "Backtest over its time budget"
    assert body["errors"][0]["field"] == "rules"
    assert "narrow the range" in body["detail"] and body["events"] == 0
    # The deployed pack is held to the same budget.
    assert client.post("/v1/rules/backtest", json={}).status_code == 422
    assert client.get("/v1/log/head").json() == head  # nothing written, not even a read

    app.state.settings.backtest_budget_seconds = 30.0
    answered = client.post("/v1/rules/backtest", json={"rules": [REDOS]})
    assert answered.status_code == 200, answered.text
    assert answered.json()["events"] >= 40 and answered.json()["incidents"] == []
