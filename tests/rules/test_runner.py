"""The live runner over a real database (SQLite and PostgreSQL): correlation types in and
out of order, dedup, restart and crash recovery, racing runners, broken rule files."""

from __future__ import annotations

import random
import sqlite3
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from service.db import make_engine, make_sessionmaker, session_scope
from service.incidents import flows
from service.rules import load_rules
from service.rules import runner as runner_mod
from service.rules.bench import synthetic_events
from service.rules.eventtime import EventTimePolicy
from service.rules.models import RuleEngineState, RuleSeen
from tests.rules import live
from tests.rules.packs import PACK, SCENARIOS, ev


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    return live.write_rules(tmp_path / "pack", PACK)


@pytest.mark.parametrize("order", ["in_order", "out_of_order"])
@pytest.mark.parametrize("rule", sorted(SCENARIOS))
def test_each_rule_type_opens_one_incident(
    client: TestClient, sessions: Any, pack: Path, rule: str, order: str
) -> None:
    events = list(SCENARIOS[rule])
    if order == "out_of_order":
        events.reverse()  # all within the lateness: arrival order must not matter
    seqs = live.ingest(client, events)
    live.drain(live.runner(pack), sessions)
    found = live.incidents(sessions)
    rules = {r.id: r for r in load_rules(directory=pack)[0]}
    assert [rules[rid].name for rid, _ in found.values()] == [rule]
    (evidence,) = [e for _, e in found.values()]
    assert set(evidence) <= set(seqs)
    if rule == "first_download":
        assert len(evidence) == 1  # the second download is not new
    else:
        assert set(evidence) == set(seqs)


def test_dedup_into_open_incident_then_new_after_close(
    client: TestClient, sessions: Any, pack: Path
) -> None:
    task = live.runner(pack)
    burst = [ev(i, "model.invoke", "mallory", outcome="denied") for i in range(3)]
    first = live.ingest(client, burst)
    live.drain(task, sessions)
    more = live.ingest(
        client, [ev(20 + i, "model.invoke", "mallory", outcome="denied") for i in range(2)]
    )
    live.drain(task, sessions)
    (only,) = live.incidents(sessions).values()
    assert only[1] == tuple(first + more)  # the open incident grew, no second one
    listed = client.get("/v1/incidents").json()["items"]
    (inc,) = [i for i in listed if i["rule_id"]]
    assert inc["event_count"] == 5
    etag = client.get(f"/v1/incidents/{inc['id']}").headers["ETag"]
    closed = client.patch(
        f"/v1/incidents/{inc['id']}", json={"status": "false_positive"}, headers={"If-Match": etag}
    )
    assert closed.status_code == 200, closed.text
    later = live.ingest(
        client, [ev(40 + i, "model.invoke", "mallory", outcome="denied") for i in range(1)]
    )
    live.drain(task, sessions)
    listed = [i for i in client.get("/v1/incidents").json()["items"] if i["rule_id"]]
    assert len(listed) == 2  # same window still holds: a fresh incident, not the closed one
    fresh = next(i for i in listed if i["id"] != inc["id"])
    assert fresh["status"] == "open" and fresh["event_count"] == len(later)


def _shipped_run(client: TestClient, count: int = 1500) -> tuple[list[Any], int]:
    rules, errors = load_rules(directory=live.REPO / "rules")
    assert not errors
    seqs = live.ingest(client, synthetic_events(count=count, seed=7, noisy=True))
    return rules, seqs[-1]


def test_restart_and_crash_mid_stream_equal_uninterrupted_run(
    client: TestClient, sessions: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules, last = _shipped_run(client)
    want = live.expected(sessions, rules, to_seq=last)
    assert len(want) > 5  # the synthetic mix fires several rules
    rules_dir = live.REPO / "rules"
    task = live.runner(rules_dir, batch=97)
    for _ in range(5):
        assert task.run_once(sessions)
    # A crash inside a batch: the transaction rolls back, nothing is half-applied.
    calls = {"n": 0}
    real = flows.apply_firings

    def flaky(**kwargs: Any) -> list[tuple[Any, flows.Outcome]]:
        calls["n"] += 1
        done = real(**kwargs)  # incidents written in the session, not yet committed
        if calls["n"] == 2:
            raise RuntimeError("worker killed")
        return done

    monkeypatch.setattr(flows, "apply_firings", flaky)
    with pytest.raises(RuntimeError):
        _drain_all(task, sessions)
    monkeypatch.setattr(flows, "apply_firings", real)
    # A new process: fresh runner instance, windows rebuilt from the log.
    for _ in range(3):
        assert live.runner(rules_dir, batch=211).run_once(sessions)
    live.drain(live.runner(rules_dir, batch=500), sessions)
    assert live.incidents(sessions) == want


def _drain_all(task: Any, factory: Any) -> None:
    live.drain(task, factory)


@pytest.mark.parametrize("threads", [2])
def test_racing_runners_open_each_incident_once(
    client: TestClient, sessions: Any, db_url: str, threads: int
) -> None:
    rules, last = _shipped_run(client, count=1200)
    want = live.expected(sessions, rules, to_seq=last)
    rules_dir = live.REPO / "rules"
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work() -> None:
        engine = make_engine(db_url)
        factory = make_sessionmaker(engine)
        task = live.runner(rules_dir, batch=50)
        try:
            start.wait()
            live.drain(task, factory)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            engine.dispose()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert not errors
    assert live.incidents(sessions) == want


def test_broken_rule_file_next_to_good_ones(
    client: TestClient, sessions: Any, tmp_path: Path
) -> None:
    rules_dir = live.write_rules(
        tmp_path / "mixed",
        {
            "event_count.yml": PACK["event_count.yml"],
            "broken.yml": "title: broken\nid: not-a-uuid\nlevel: high\ndetection: {}\n",
        },
    )
    live.ingest(client, SCENARIOS["denied_burst"])
    task = live.runner(rules_dir)
    live.drain(task, sessions)
    assert len(live.incidents(sessions)) == 1
    assert task.rule_set is not None
    assert {e.path.name for e in task.rule_set.errors} == {"broken.yml"}


def test_first_seen_memory_is_persisted_and_pruned(
    client: TestClient, sessions: Any, pack: Path
) -> None:
    live.ingest(client, SCENARIOS["first_download"][:1])
    task = live.runner(pack)
    live.drain(task, sessions)
    with session_scope(sessions) as session:
        assert session.scalar(select(func.count()).select_from(RuleSeen)) == 1
        assert session.scalar(select(RuleEngineState.cursor)) > 0
    # A restarted runner remembers the combination: the same download is not new.
    live.ingest(client, [ev(3600, "model.weights.download", "dave", model="llm")])
    live.drain(live.runner(pack), sessions)
    assert len(live.incidents(sessions)) == 1
    # 31 days later the memory is pruned, and the combination is new again. (That event
    # may be dated ahead of the real clock: allow the skew, it is not what is tested here.)
    late = live.runner(pack, policy=EventTimePolicy(skew_tolerance=timedelta(days=400)))
    monkey_prune = 0.0
    runner_mod.PRUNE_EVERY_SECONDS, saved = monkey_prune, runner_mod.PRUNE_EVERY_SECONDS
    try:
        live.ingest(client, [ev(31 * 86400, "model.weights.download", "zed", model="other")])
        live.drain(late, sessions)
    finally:
        runner_mod.PRUNE_EVERY_SECONDS = saved
    with session_scope(sessions) as session:
        keys = session.scalars(select(RuleSeen.key)).all()
    assert keys == ['["zed","other"]']


def test_idle_runner_does_not_take_the_lease(sessions: Any, pack: Path) -> None:
    assert live.runner(pack).run_once(sessions) is False


def test_shuffled_ingest_batches_match_backtest(
    client: TestClient, sessions: Any, pack: Path
) -> None:
    events = [e for evs in SCENARIOS.values() for e in evs]
    random.Random(3).shuffle(events)
    for start in range(0, len(events), 4):
        live.ingest(client, events[start : start + 4])
    live.drain(live.runner(pack), sessions)
    body = client.post("/v1/rules/backtest", json={"rules": list(PACK.values())}).json()
    # Opening order and evidence of the backtest are the live ones.
    got = live.incidents(sessions)
    assert [i["dedup_key"] for i in body["incidents"]] == list(got)
    assert {i["dedup_key"]: tuple(i["evidence_seqs"]) for i in body["incidents"]} == {
        k: v[1] for k, v in got.items()
    }


def test_an_idle_poll_does_not_wait_for_the_sqlite_write_lock(
    sqlite_template: Path, tmp_path: Path
) -> None:
    """Ingest holds SQLite's one write lock while it appends; a runner with nothing to do
    must answer its poll from a read transaction instead of queueing behind it."""
    path = tmp_path / "custody.db"
    path.write_bytes(sqlite_template.read_bytes())
    engine = make_engine(f"sqlite:///{path}")
    factory = make_sessionmaker(engine)
    task = live.runner(live.REPO / "rules")
    assert task.run_once(factory) is False  # built, and idle: nothing in the log yet
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # an appender holding the write lock
    answers: list[bool] = []
    poll = threading.Thread(target=lambda: answers.append(task.run_once(factory)))
    poll.start()
    poll.join(timeout=5)  # a writer would wait for busy_timeout (30 s), then fail
    answered_while_locked = not poll.is_alive()
    writer.execute("ROLLBACK")
    poll.join()
    writer.close()
    engine.dispose()
    assert answered_while_locked and answers == [False]
