"""Event time end to end, through HTTP, `custody ship` and the live runner, on SQLite and
PostgreSQL: the three situations of issue 11 (delivery delay, backfill, one bad clock),
late counts that survive a restart, rules status and metrics, bounded restarts."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from bench.common import make_token
from service.app import create_app
from service.auth.schemas import Scope
from service.client import Client
from service.client.progress import PlainReporter
from service.client.ship import ShipOptions, ship
from service.config import Settings
from service.db import database
from service.rules import load_rules
from service.rules.bench import synthetic_events
from service.rules.eventtime import EventTimePolicy
from tests.client.live import Server, ship_process
from tests.rules import live

RULES = live.REPO / "rules"
# In the order CloudTrail delivered them (August 2024, then October 2024): shipped the
# other way round, the August events are late within their own source, and counted so.
STRATUS = sorted(
    (live.REPO / "tests/fixtures/real/stratus").glob("*.json"), key=lambda p: "bedrock" in p.name
)
NAMES = {r.id: r.name for r in load_rules(directory=RULES)[0]}
LLMJACKING = "bedrock_llmjacking_access_enabled_then_invoke"
ENUMERATION = "bedrock_model_enumeration_then_invoke"
BURST = "model_invoke_denied_burst"


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ago(**delta: float) -> str:
    return stamp(datetime.now(UTC) - timedelta(**delta))


def gw(time: str, action: str = "model.invoke", actor: str = "alice", **kw: Any) -> dict[str, Any]:
    return {
        "time": time,
        "source": "inference-gateway",
        "action": action,
        "actor": {"type": "user", "id": actor},
        "resource": {"type": "model", "id": "llm-prod"},
        **kw,
    }


def ct(time: str, action: str, actor: str) -> dict[str, Any]:
    """A normalized CloudTrail Bedrock event (what the adapter stores)."""
    return {
        "time": time,
        "source": "aws.cloudtrail",
        "action": action,
        "actor": {"type": "user", "id": actor},
        "resource": {"type": "model", "id": "anthropic.claude-3"},
        "attributes": {"event_source": "bedrock.amazonaws.com"},
    }


def opened(factory: sessionmaker[Session]) -> list[str]:
    return sorted(NAMES[rid] for rid, _ in live.incidents(factory).values())


def drain(factory: sessionmaker[Session], **kw: Any) -> live.RuleRunner:
    task = live.runner(RULES, **kw)
    live.drain(task, factory)
    return task


def ship_in_process(client: TestClient, paths: list[str]) -> Any:
    http = httpx.Client(
        transport=client._transport, base_url=client.base_url, headers=client.headers
    )
    console = Console(file=io.StringIO(), width=200)
    with PlainReporter(console, "shipping") as reporter:
        return ship(
            paths, client=Client(http=http, sleep=lambda _: None), options=ShipOptions(),
            reporter=reporter,
        )  # fmt: skip


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[Server]:
    running = Server(db_url, tmp_path)
    running.start()
    yield running
    running.stop()


def test_stratus_shipped_after_current_events_opens_llmjacking_and_enumeration(
    db_url: str, server: Server
) -> None:
    """The README's first use: a token (its apikey.create is stamped now), a current event,
    then `custody ship` of the Stratus Red Team samples (October 2024)."""
    token = make_token(db_url)
    headers = {"Authorization": f"Bearer {token}"}
    now = httpx.post(f"{server.url}/v1/events", json=gw(ago()), headers=headers, timeout=30)
    assert now.status_code == 200, now.text
    shipper = ship_process([str(p) for p in STRATUS], url=server.url, token=token)
    _, err = shipper.communicate(timeout=120)
    assert shipper.returncode == 0, err
    with database(db_url) as factory:
        drain(factory)
        got = opened(factory)
        assert LLMJACKING in got and ENUMERATION in got, got
        incidents = live.incidents(factory)
    status = server.get(token, "/v1/rules/status")
    cloudtrail = next(s for s in status["sources"] if s["source"] == "aws.cloudtrail")
    assert cloudtrail["late"] == 0 and cloudtrail["events"] == 20
    assert status["lag_events"] == 0 and status["warmup"]

    # The backtest by seq range over the samples, the one by time range, and the live
    # run agree (the --from-seq 19 --to-seq 33 case: a current event precedes the range).
    records = server.get(token, "/v1/events", source="aws.cloudtrail", limit=100)["items"]
    seqs = [e["seq"] for e in records]
    times = sorted(e["time"] for e in records)
    by_seq = _backtest(server, token, from_seq=min(seqs), to_seq=max(seqs))
    until = stamp(datetime.fromisoformat(times[-1]) + timedelta(seconds=1))
    by_time = _backtest(server, token, since=times[0], until=until)
    live_ct = {k: v[1] for k, v in incidents.items() if set(v[1]) <= set(seqs)}
    assert by_seq == by_time == live_ct
    assert {NAMES[i] for i in _rules(server, token, from_seq=min(seqs))} >= {
        LLMJACKING,
        ENUMERATION,
    }


def _backtest(server: Server, token: str, **body: Any) -> dict[str, tuple[int, ...]]:
    r = httpx.post(
        f"{server.url}/v1/rules/backtest",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    return {i["dedup_key"]: tuple(i["evidence_seqs"]) for i in r.json()["incidents"]}


def _rules(server: Server, token: str, **body: Any) -> list[str]:
    r = httpx.post(
        f"{server.url}/v1/rules/backtest",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    return [i["rule_id"] for i in r.json()["incidents"]]


def test_source_delayed_fifteen_minutes_interleaved_with_real_time(
    client: TestClient, sessions: Any
) -> None:
    batches = [
        [gw(ago(seconds=2)), ct(ago(minutes=15), "model.access.enable", "eve")],
        [gw(ago(seconds=1)), gw(ago(seconds=1), actor="bob")],
        [ct(ago(minutes=14), "model.invoke", "eve"), gw(ago())],
    ]
    for batch in batches:
        live.ingest(client, batch)
        drain(sessions)  # the runner keeps up between deliveries, as it does live
    assert opened(sessions) == [LLMJACKING]
    status = client.get("/v1/rules/status").json()
    assert {s["source"]: s["late"] for s in status["sources"]} == {
        "aws.cloudtrail": 0,
        "inference-gateway": 0,
    }


def test_backfill_of_thirty_days_correlates(
    client: TestClient, sessions: Any, tmp_path: Path
) -> None:
    live.ingest(client, [gw(ago())])
    drain(sessions)
    path = tmp_path / "last-month.ndjson"
    lines = []
    for day in range(30, 0, -1):
        lines.append(ct(ago(days=day), "model.access.enable", f"user{day}"))
        lines.append(ct(ago(days=day, minutes=-5), "model.invoke", f"user{day}"))
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in lines))
    assert ship_in_process(client, [str(path)]).accepted == 60
    drain(sessions)
    assert opened(sessions) == [LLMJACKING] * 30


def test_future_dated_event_then_a_burst_from_another_source_opens(
    client: TestClient, sessions: Any, make_token: Any
) -> None:
    ingest = make_token(Scope.ingest)
    bogus = {**gw("9999-12-31T23:59:59Z", actor="mallory"), "source": "rogue-clock"}
    r = client.post("/v1/events", json=bogus, headers={"Authorization": f"Bearer {ingest}"})
    assert r.status_code == 200, r.text
    drain(sessions)
    burst = [gw(ago(seconds=30 - i), actor="mallory", outcome="denied") for i in range(10)]
    live.ingest(client, burst)
    drain(sessions)
    assert opened(sessions) == [BURST]
    status = client.get("/v1/rules/status").json()
    assert status["clock_skew"] == 1 and status["late"] == 0
    rogue = next(s for s in status["sources"] if s["source"] == "rogue-clock")
    assert rogue["skewed"] == 1
    assert rogue["newest_event_time"] < "9999"  # correlated at its arrival
    stored = client.get("/v1/events", params={"source": "rogue-clock"}).json()["items"]
    assert stored[0]["time"].startswith("9999-12-31T23:59:59")  # stored as sent


def test_late_counts_survive_a_restart_and_are_exported(
    client: TestClient, sessions: Any, settings: Settings
) -> None:
    burst_id = next(rid for rid, name in NAMES.items() if name == BURST)
    live.ingest(client, [gw(ago(), outcome="denied"), gw(ago(hours=1), outcome="denied")])
    drain(sessions)

    def late_for_burst(c: TestClient) -> int:
        status = c.get("/v1/rules/status").json()
        return sum(
            i["count"]
            for i in status["late_by_rule"]
            if i["source"] == "inference-gateway" and i["rule_id"] == burst_id
        )

    assert late_for_burst(client) == 1
    # A new process: a fresh app and runner over the same database.
    app = create_app(settings)
    try:
        with TestClient(app) as again:
            again.headers.update(client.headers)
            assert late_for_burst(again) == 1
            live.ingest(again, [gw(ago(hours=2), outcome="denied")])
            drain(app.state.sessionmaker)
            assert late_for_burst(again) == 2
            metrics = again.get("/metrics").text
    finally:
        app.state.engine.dispose()
    line = f'custody_rules_late_events_total{{rule="{burst_id}",source="inference-gateway"}} 2.0'
    assert line in metrics
    assert "custody_rules_lag_events 0.0" in metrics
    assert "custody_rules_firings_total{" in metrics


def test_restarts_resume_from_the_snapshot(client: TestClient, sessions: Any) -> None:
    """A worker killed after every batch still advances, and each start-up warms only
    the events since the last snapshot, not the whole window."""
    rules, _ = load_rules(directory=RULES)
    seqs = live.ingest(client, synthetic_events(count=1200, seed=5, noisy=True))
    want = live.expected(sessions, rules, to_seq=seqs[-1])
    assert len(want) > 3
    starts = []
    for _ in range(100):
        task = live.runner(RULES, batch=100, snapshot_every=0.0)
        if not task.run_once(sessions):
            break
        starts.append(task.warmup or "")
    assert len(starts) >= 12
    assert all(s.startswith("snapshot") and ", 0 events warmed" in s for s in starts[1:])
    assert live.incidents(sessions) == want


def test_rules_status_needs_read_scope_and_reports_settings(
    client: TestClient, make_token: Any
) -> None:
    ingest = make_token(Scope.ingest)
    denied = client.get("/v1/rules/status", headers={"Authorization": f"Bearer {ingest}"})
    assert denied.status_code == 403
    reader = make_token(Scope.read)
    ok = client.get("/v1/rules/status", headers={"Authorization": f"Bearer {reader}"})
    assert ok.status_code == 200
    body = ok.json()
    assert body["lateness_seconds"] == 300 and body["clock_skew_seconds"] == 300
    assert body["sources"] == [] and body["cursor"] == 0


def test_policy_from_settings_per_source() -> None:
    settings = Settings(rules_source_lateness_seconds={"aws.cloudtrail": 1200})
    policy = EventTimePolicy.from_settings(settings)
    assert policy.lateness_for("aws.cloudtrail") == timedelta(minutes=20)
    assert policy.lateness_for("gateway") == timedelta(minutes=5)
    with pytest.raises(ValueError, match=r"aws\.cloudtrail"):
        Settings(rules_source_lateness_seconds={"aws.cloudtrail": -1})
