"""Filters, sorting and cursor pagination over a few hundred incidents."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.db import session_scope
from service.incidents.custody import Actor
from service.incidents.flows import Policy, open_incident
from service.incidents.sla import SlaPolicy

SEVERITIES = ["info", "low", "medium", "high", "critical"]
N = 300


# A directory that does not exist: these incidents need no runbook.
NO_RUNBOOKS = Policy(runbooks_dir=Path(__file__).parent / "no-runbooks-here", sla=SlaPolicy())


@pytest.fixture
def many(client: TestClient, sessions: Any) -> list[dict[str, Any]]:
    """N incidents with cycling severities, tags, assignees and rules (one transaction)."""
    made = []
    actor = Actor(type="token", id="t", name="seed")
    with session_scope(sessions) as session:
        for n in range(N):
            spec = {
                "title": f"Incident {n} {'weights' if n % 7 == 0 else 'access'}",
                "severity": SEVERITIES[n % 5],
                "assignee": ["alice", "bob", None][n % 3],
                "tags": ["atlas.aml.t0024"] if n % 4 == 0 else ["attack.t1098"],
                "rule_id": f"rule-{n % 2}",
            }
            open_incident(session=session, actor=actor, policy=NO_RUNBOOKS, **spec)
            made.append(spec)
    return made


def _all(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        r = client.get("/v1/incidents", params=query)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


def _numbers(items: list[dict[str, Any]]) -> list[int]:
    return [int(i["id"].split("-")[1]) for i in items]


FILTERS: list[tuple[dict[str, Any], Any]] = [
        ({"severity": "high"}, lambda s: s["severity"] == "high"),
        ({"severity": ["high", "critical"]}, lambda s: s["severity"] in ("high", "critical")),
        ({"assignee": "bob"}, lambda s: s["assignee"] == "bob"),
        ({"rule_id": "rule-1"}, lambda s: s["rule_id"] == "rule-1"),
        ({"tag": "atlas.aml.t0024"}, lambda s: "atlas.aml.t0024" in s["tags"]),
        ({"q": "WEIGHTS"}, lambda s: "weights" in s["title"]),
        ({"status": "open", "severity": "low", "tag": "attack.t1098"},
         lambda s: s["severity"] == "low" and "attack.t1098" in s["tags"]),
]  # fmt: skip


def test_filters_and_pagination(client: TestClient, many: list[dict[str, Any]]) -> None:
    # One test for all cases: building the few hundred incidents is the slow part.
    assert _numbers(_all(client, limit=37)) == list(range(N, 0, -1))
    for params, predicate in FILTERS:
        expected = [n + 1 for n, spec in enumerate(many) if predicate(spec)]
        assert sorted(_numbers(_all(client, limit=50, **params))) == expected, params
    now = datetime.now(UTC)
    assert len(_all(client, opened_since=(now - timedelta(hours=1)).isoformat(), limit=500)) == N
    assert _all(client, opened_until=(now - timedelta(hours=1)).isoformat()) == []
    assert _all(client, updated_since=(now + timedelta(hours=1)).isoformat()) == []


def test_stats_and_several_statuses(client: TestClient, many: list[dict[str, Any]]) -> None:
    stats = client.get("/v1/incidents/stats").json()
    assert stats["total"] == N and stats["by_status"]["open"] == N
    counts = {k: len(list(g)) for k, g in itertools.groupby(sorted(s["severity"] for s in many))}
    assert {k: v for k, v in stats["by_severity"].items() if v} == counts
    assert stats["time_to_resolve"] == {"count": 0, "median": None, "p90": None}
    for n in (1, 2):
        client.patch(f"/v1/incidents/INC-{n}", json={"status": "acknowledged"},
                     headers={"If-Match": '"1"'})  # fmt: skip
    client.patch(
        "/v1/incidents/INC-3", json={"status": "false_positive"}, headers={"If-Match": "*"}
    )
    assert sorted(_numbers(_all(client, status="acknowledged"))) == [1, 2]
    assert sorted(_numbers(_all(client, status="acknowledged,false_positive"))) == [1, 2, 3]
    assert len(_all(client, status=["open"], limit=200)) == N - 3
    assert client.get("/v1/incidents", params={"status": "bogus"}).status_code == 422


def test_sorting_is_total_and_stable_across_pages(client: TestClient, many: Any) -> None:
    client.patch("/v1/incidents/INC-5", json={"title": "touched"}, headers={"If-Match": '"1"'})
    keys = {"severity": lambda i: SEVERITIES.index(i["severity"]),
            "updated": lambda i: i["updated_at"], "opened": lambda i: i["opened_at"]}  # fmt: skip
    for sort in ["severity", "-severity", "updated", "-updated", "opened"]:
        items = _all(client, sort=sort, limit=23)
        assert sorted(_numbers(items)) == list(range(1, N + 1)), sort
        values = [keys[sort.lstrip("-")](i) for i in items]
        assert values == sorted(values, reverse=sort.startswith("-")), sort


def test_bad_cursor_is_422(client: TestClient) -> None:
    assert client.get("/v1/incidents", params={"cursor": "!!"}).status_code == 422
