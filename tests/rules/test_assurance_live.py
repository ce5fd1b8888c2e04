"""End to end, both databases: real garak and inspect-ai reports shipped through the ingest
API, `model.deploy` events, the worker's rules runner. A deploy with no adversarial
evaluation opens an incident with the deployment-without-assurance runbook once the
lateness has passed; deploys of evaluated models open nothing."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from service.db import session_scope
from service.rules import load_rules
from service.rules.engine import Engine
from service.rules.eventtime import EventTimePolicy
from service.rules.logread import stream_events
from tests.adapters.helpers import fixture
from tests.adapters.test_ingest_api import body_of
from tests.rules import live

RULE = "model_deployed_without_adversarial_eval"


def _now(offset: timedelta = timedelta(0)) -> str:
    moment = datetime.now(UTC) + offset
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _deploy(model: str, version: str) -> dict[str, Any]:
    return {
        "time": _now(),
        "source": "model-registry",
        "action": "model.deploy",
        "outcome": "success",
        "actor": {"type": "user", "id": "release-bot"},
        "resource": {"type": "model", "id": model, "version": version},
    }


def _ship(client: TestClient, name: str) -> list[dict[str, Any]]:
    body, headers = body_of(fixture(name))
    r = client.post("/v1/events", content=body, headers=headers)
    assert r.status_code == 200, r.text
    return client.get("/v1/events", params={"action": "model.eval.adversarial"}).json()["items"]


def test_deploy_without_evaluation_opens_an_incident_with_its_runbook(
    client: TestClient, sessions: Any
) -> None:
    evals = _ship(client, "garak/dan-blank.report.jsonl")
    evals = _ship(client, "inspect-ai/prompt-injection-resistance.eval.json")
    assert {e["resource"]["id"] for e in evals} == {"test.Blank", "mockllm/model"}
    # Both reports are from today (2026-12-06): within 30 days of a deploy made now.
    assert all(datetime.fromisoformat(e["time"]) > datetime.now(UTC) - timedelta(days=30)
               for e in evals)  # fmt: skip
    [unassured] = live.ingest(
        client,
        [_deploy("test.Blank", "2026-12-06"), _deploy("mockllm/model", "1"),
         _deploy("support-bot", "7")],
    )[2:]  # fmt: skip
    # A grace of one second instead of the default five minutes, so the test need not wait.
    task = live.runner(live.REPO / "rules", policy=EventTimePolicy(lateness=timedelta(seconds=1)))
    task.clock = lambda: 0.0  # however slow this machine, no tick before the checks below
    live.drain(task, sessions)
    # Both reports found successful attacks: deploying those models is the other rule's
    # case, at once. The unevaluated deploy is not judged yet: an evaluation may still come.
    assert _opened(client) == {
        ("model_deployed_after_failed_adversarial_eval", "test.Blank"),
        ("model_deployed_after_failed_adversarial_eval", "mockllm/model"),
    }
    time.sleep(1.1)
    task.clock = time.time
    live.ingest(client, [{"time": _now(), "source": "gateway", "action": "model.invoke",
                          "resource": {"type": "model", "id": "support-bot"}}])  # fmt: skip
    live.drain(task, sessions)
    assert {rule for rule, _ in _opened(client)} == {
        "model_deployed_after_failed_adversarial_eval",
        RULE,
    }
    [incident] = [i for i in _incidents(client) if i["rule_name"] == RULE]
    assert incident["evidence"] == [unassured]
    assert incident["runbook_id"] == "deployment-without-assurance"
    assert incident["category"] == "supply_chain" and incident["severity"] == "medium"
    assert incident["group"] == {"resource.id": "support-bot", "resource.version": "7"}
    assert "atlas.aml.t0051" in incident["tags"]
    assert incident["runbook"]["overview"].startswith("**What this is.** Model `support-bot`")

    # A restarted runner (by replay: other event-time settings) opens nothing more.
    before = live.incidents(sessions)
    live.drain(live.runner(live.REPO / "rules"), sessions)
    assert live.incidents(sessions) == before


def test_a_quiet_log_decides_a_held_deploy_with_a_clock_tick(
    client: TestClient, sessions: Any
) -> None:
    [deploy] = live.ingest(client, [_deploy("support-bot", "8")])
    policy = EventTimePolicy(lateness=timedelta(seconds=1))
    task = live.runner(live.REPO / "rules", policy=policy, clock=lambda: 0.0)
    live.drain(task, sessions)
    assert _incidents(client) == []  # held: an evaluation may still come
    time.sleep(1.1)
    # Nothing else arrives. Once the grace is over by the wall clock, the runner appends
    # a clock tick and decides on it.
    task.clock = time.time
    live.drain(task, sessions)
    [incident] = _incidents(client)
    assert incident["rule_name"] == RULE and incident["evidence"] == [deploy]
    live.drain(task, sessions)
    ticks = client.get("/v1/events", params={"source": "custody", "action": "rules.tick"})
    [tick] = ticks.json()["items"]
    assert tick["seq"] > deploy and tick["actor"]["id"] == "rules-runner"
    # The tick is a record: an engine replaying the log makes the same decision.
    rules, errors = load_rules(directory=live.REPO / "rules")
    assert not errors
    engine = Engine(rules, policy=policy)
    with session_scope(sessions) as session:
        firings = [f for e in stream_events(session=session) for f in engine.process(e)]
    assert [(f.rule_id, f.evidence) for f in firings] == [(incident["rule_id"], (deploy,))]
    # Only the server ticks: a shipper cannot move the rules' clock.
    forged = client.post("/v1/events", json=[{**_deploy("x", "1"), "action": "rules.tick"}])
    assert forged.status_code == 422 and "action" in forged.text


def _incidents(client: TestClient) -> list[dict[str, Any]]:
    rules = {r["id"]: r["name"] for r in client.get("/v1/rules").json()["items"]}
    out = []
    for item in client.get("/v1/incidents").json()["items"]:
        if not item["rule_id"]:
            continue
        detail = client.get(f"/v1/incidents/{item['id']}").json()
        evidence = client.get(f"/v1/incidents/{item['id']}/events").json()["items"]
        runbook = client.get(f"/v1/incidents/{item['id']}/runbook").json()
        out.append(detail | {"rule_name": rules[item["rule_id"]], "runbook": runbook,
                             "evidence": [e["seq"] for e in evidence]})  # fmt: skip
    return out


def _opened(client: TestClient) -> set[tuple[str, str]]:
    return {(i["rule_name"], i["group"]["resource.id"]) for i in _incidents(client)}
