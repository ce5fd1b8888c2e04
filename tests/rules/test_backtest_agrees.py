"""Property: for the same events, the live runner, a backtest by seq range and a backtest
by time range open the same incidents, whatever the arrival order and the delay of each
source (real-time, 15 minutes, a month of backfill). Both databases."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.rules import live
from tests.rules.packs import PACK

QUIET = """\
title: quiet
id: 00000000-0000-4000-8000-000000000016
name: quiet
level: low
correlation:
  type: event_count
  rules: [denied]
  group-by: [actor.id]
  timespan: 2m
  condition: {lt: 2}
"""
RULES = {**PACK, "quiet.yml": QUIET}
# (action, outcome, extra fields): what the pack's rules look at.
KINDS = [
    ("model.invoke", "denied", {}),
    ("model.invoke", "success", {}),
    ("model.weights.download", "success", {"actor_type": "service"}),
    ("model.weights.download", "success", {}),
    ("model.permission.grant", "success", {"grantee": "peer"}),
    ("auth.login.failure", "failure", {}),
    ("apikey.create", "success", {}),
]
DELAYS = [timedelta(0), timedelta(minutes=15), timedelta(days=30)]
_run = itertools.count()

events_strategy = st.lists(
    st.tuples(
        st.integers(0, 1),  # source
        st.integers(0, 1),  # actor
        st.integers(0, len(KINDS) - 1),
        st.integers(0, 240),  # seconds into the source's stretch of event time
        st.integers(0, 3),  # model
    ),
    min_size=6,
    max_size=40,
)


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    return live.write_rules(tmp_path / "pack", RULES)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    spec=events_strategy,
    delays=st.tuples(st.sampled_from(DELAYS), st.sampled_from(DELAYS)),
    order=st.randoms(use_true_random=False),
    batch=st.integers(1, 7),
)
def test_live_seq_range_and_time_range_agree(
    client: TestClient,
    sessions: Any,
    pack: Path,
    spec: list[tuple[int, int, int, int, int]],
    delays: tuple[timedelta, timedelta],
    order: Any,
    batch: int,
) -> None:
    run = next(_run)  # each example has its own sources and actors in the shared log
    now = datetime.now(UTC) - timedelta(minutes=20)
    events = []
    for source, actor, kind, offset, model in spec:
        action, outcome, extra = KINDS[kind]
        moment = now - delays[source] + timedelta(seconds=offset)
        fields = {k: (f"{v}{run}" if k == "grantee" else v) for k, v in extra.items()}
        events.append(
            {
                "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "source": f"src{source}-{run}",
                "action": action,
                "outcome": outcome,
                "actor": {"type": fields.pop("actor_type", "user"), "id": f"a{actor}-{run}"},
                "resource": {"type": "model", "id": f"m{model}"},
                **({"attributes": fields} if fields else {}),
            }
        )
    order.shuffle(events)  # arrival order differs from event-time order
    seqs: list[int] = []
    for start in range(0, len(events), batch):
        seqs += live.ingest(client, events[start : start + batch])
        live.drain(live.runner(pack), sessions)
    mine = set(seqs)

    def own(found: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
        return {k: v for k, v in found.items() if set(v) <= mine}

    got_live = own({k: v[1] for k, v in live.incidents(sessions).items()})
    times = sorted(e["time"] for e in events)
    until = datetime.fromisoformat(times[-1]) + timedelta(milliseconds=1)
    by_seq = own(_backtest(client, from_seq=min(seqs), to_seq=max(seqs)))
    by_time = own(_backtest(client, since=times[0], until=until.isoformat()))
    assert by_seq == got_live
    assert by_time == got_live


def _backtest(client: TestClient, **body: Any) -> dict[str, tuple[int, ...]]:
    r = client.post("/v1/rules/backtest", json={"rules": list(RULES.values()), **body})
    assert r.status_code == 200, r.text
    return {i["dedup_key"]: tuple(i["evidence_seqs"]) for i in r.json()["incidents"]}
