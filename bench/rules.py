"""Rules engine throughput versus ingest throughput, measured in the same run.

    .venv/bin/python bench/rules.py [--events 200000] [--database-url URL] [--runner] [--heavy|--noisy]

1. Ingest: the synthetic events go through the HTTP ingest path in-process (ASGI app,
   POST /v1/events, batches of 1000) into a fresh SQLite file (or --database-url, which
   must be an empty, migrated database).
2. Engine: the same events, as stored-event dicts, through one Engine with the full
   shipped pack (what the runner does per batch, minus the database read).
3. --runner: the live runner over the stored log (DB read, incidents, counters, cursor).
   The default mix is an ordinary day (about one firing per 1,400 events); --heavy adds
   one incident-opening event per 14 (distinct groups); --noisy draws every actor and
   address at random, so most admin changes and dataset writes fire (one in ~13).
4. --startup: after the runner, time a fresh runner's start-up (snapshot + warm) and
   its first batch, as a restarted worker would.

Prints events/s of each and the engine/ingest ratio (target >= 1.0: rules keep up); with
--runner the last line is `runner/ingest ratio: X` (target >= 1.0, >= 0.5 with --heavy).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402

from service import migrate  # noqa: E402
from service.app import create_app  # noqa: E402
from service.auth.schemas import Scope  # noqa: E402
from service.auth.service import create_token  # noqa: E402
from service.config import Settings  # noqa: E402
from service.db import session_scope  # noqa: E402
from service.rules import load_rules  # noqa: E402
from service.rules.bench import incident_heavy, measure, synthetic_events  # noqa: E402
from service.rules.runner import RuleRunner  # noqa: E402

BATCH = 1000


def ingest(url: str, events: list[dict[str, Any]]) -> float:
    settings = Settings(database_url=url, run_background=False, log_level="WARNING")
    app = create_app(settings)
    with session_scope(app.state.sessionmaker) as session:
        secret = create_token(session=session, scope=Scope.ingest).secret
    bodies = [[{k: v for k, v in e.items() if k != "seq"} for e in events[i : i + BATCH]]
              for i in range(0, len(events), BATCH)]  # fmt: skip
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {secret}"
        began = time.perf_counter()
        for body in bodies:
            response = client.post("/v1/events", json=body)
            response.raise_for_status()
        seconds = time.perf_counter() - began
    app.state.engine.dispose()
    return seconds


def run_runner(url: str) -> tuple[float, int]:
    settings = Settings(database_url=url, run_background=False)
    app = create_app(settings)
    task = RuleRunner(rules_dir=ROOT / "rules", runbooks_dir=ROOT / "runbooks", batch=BATCH)
    began = time.perf_counter()
    rounds = 0
    while task.run_once(app.state.sessionmaker):
        rounds += 1
    seconds = time.perf_counter() - began
    app.state.engine.dispose()
    return seconds, rounds


def startup(url: str) -> tuple[float, str]:
    """A restarted worker: fresh runner, rebuild (snapshot + warm) and one idle poll."""
    settings = Settings(database_url=url, run_background=False)
    app = create_app(settings)
    task = RuleRunner(rules_dir=ROOT / "rules", runbooks_dir=ROOT / "runbooks", batch=BATCH)
    began = time.perf_counter()
    task.run_once(app.state.sessionmaker)
    seconds = time.perf_counter() - began
    app.state.engine.dispose()
    return seconds, task.warmup or ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--runner", action="store_true", help="also time the live runner")
    parser.add_argument("--heavy", action="store_true", help="incident-heavy mix (1 in 14)")
    parser.add_argument("--noisy", action="store_true", help="random actors: 1 firing in ~13")
    parser.add_argument("--startup", action="store_true", help="time a restarted runner")
    args = parser.parse_args()

    import logging

    logging.disable(logging.INFO)
    rules, errors = load_rules(directory=ROOT / "rules")
    assert not errors, errors
    events = synthetic_events(count=args.events, seed=1, noisy=args.noisy)
    if args.heavy:
        events = incident_heavy(events)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        migrate.upgrade(url)
        ingest_s = ingest(url, events)
        engine = measure(rules=rules, events=events)
        ingest_rate = len(events) / ingest_s
        print(
            f"events                 {len(events):>12,}  ({sum(r.emits for r in rules)} firing rules)"
        )
        print(
            f"ingest (HTTP, batch {BATCH}) {ingest_rate:>10,.0f} events/s  ({ingest_s:.1f} s, {url.split(':')[0]})"
        )
        print(
            f"engine (full pack)     {engine.events_per_second:>12,.0f} events/s  ({engine.seconds:.1f} s, {engine.firings:,} firings)"
        )
        print(
            f"ratio engine/ingest    {engine.events_per_second / ingest_rate:>12.2f}  (target >= 1.0)"
        )
        if args.runner:
            seconds, rounds = run_runner(url)
            print(
                f"runner (DB + incidents) {len(events) / seconds:>11,.0f} events/s  ({seconds:.1f} s, {rounds} batches)"
            )
            if args.startup:
                took, how = startup(url)
                print(f"start-up after {len(events):,} events: {took:.2f} s ({how})")
            print(f"runner/ingest ratio: {len(events) / seconds / ingest_rate:.2f}")


if __name__ == "__main__":
    main()
