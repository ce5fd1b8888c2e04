"""Helpers for tests that run the live runner against a real database."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.db import session_scope
from service.incidents.models import Incident, IncidentEvidence
from service.rules.engine import Engine
from service.rules.logread import stream_events
from service.rules.merge import merge_firings
from service.rules.model import Rule
from service.rules.runner import RuleRunner

REPO = Path(__file__).resolve().parents[2]


def write_rules(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text))
    return directory


def ingest(client: TestClient, events: Sequence[dict[str, Any]]) -> list[int]:
    """POST events (without `seq`) in the given order; returns their seqs."""
    body = [{k: v for k, v in e.items() if k != "seq"} for e in events]
    response = client.post("/v1/events", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    return list(range(result["first_seq"], result["last_seq"] + 1))


def drain(runner: RuleRunner, factory: sessionmaker[Session], *, limit: int = 10_000) -> int:
    """run_once until the runner finds nothing to do; returns how many busy rounds."""
    rounds = 0
    while runner.run_once(factory):
        rounds += 1
        assert rounds < limit
    return rounds


def runner(rules_dir: Path, **kwargs: Any) -> RuleRunner:
    return RuleRunner(rules_dir=rules_dir, runbooks_dir=REPO / "runbooks", **kwargs)


def incidents(factory: sessionmaker[Session]) -> dict[str, tuple[str, tuple[int, ...]]]:
    """dedup key -> (rule id, evidence seqs) of every incident opened by a rule."""
    with session_scope(factory) as session:
        rows = session.scalars(
            select(Incident).where(Incident.rule_id.is_not(None)).order_by(Incident.number)
        ).all()
        out: dict[str, tuple[str, tuple[int, ...]]] = {}
        for inc in rows:
            seqs = session.scalars(
                select(IncidentEvidence.seq)
                .where(IncidentEvidence.incident_number == inc.number)
                .order_by(IncidentEvidence.seq)
            ).all()
            assert inc.dedup_key is not None and inc.rule_id is not None
            assert inc.dedup_key not in out, "two incidents for one dedup key"
            out[inc.dedup_key] = (inc.rule_id, tuple(seqs))
        return out


def expected(
    factory: sessionmaker[Session], rules: Iterable[Rule], *, to_seq: int
) -> dict[str, tuple[str, tuple[int, ...]]]:
    """What one uninterrupted in-memory engine makes of the log (nothing closed)."""
    engine = Engine(list(rules))
    with session_scope(factory) as session:
        firings = [
            f for e in stream_events(session=session, to_seq=to_seq) for f in engine.process(e)
        ]
    return {f.dedup_key: (f.rule_id, tuple(sorted(f.evidence))) for f in merge_firings(firings)}
