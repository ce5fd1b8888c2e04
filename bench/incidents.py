"""Incident listing latency: 100,000 incidents on PostgreSQL, the triage query in-process.

    .venv/bin/python bench/incidents.py [--incidents 100000] [--requests 500]

Creates a scratch database at CUSTODY_TEST_POSTGRES_URL, bulk-inserts the incidents
with psycopg executemany, then times `GET /v1/incidents?status=open&severity=high`
(first page, 50 items) through the ASGI app (TestClient: auth, query, serialization).
Prints p50/p99 and the plan PostgreSQL chose. The issue's target: p99 under 20 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import make_token, scratch_database
from service.auth.schemas import Scope
from service.incidents.models import Incident
from service.incidents.queries import IncidentFilters, filtered
from service.runbooks.schemas import Severity

STATUSES = ["open"] * 3 + ["acknowledged"] * 2 + ["contained", "resolved"] + ["closed"] * 3
STATUSES += ["false_positive", "duplicate"]
SEVERITIES = [s.value for s in Severity]
COLUMNS = (
    "number, title, description, severity, severity_rank, status, assignee, rule_id, "
    "group_values, tags, dedup_key, first_seen, last_seen, event_count, opened_at, opened_by, "
    "updated_at, version, anchor_seq"
)


def rows(n: int) -> list[tuple[object, ...]]:
    rng = random.Random(7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    for number in range(1, n + 1):
        severity = rng.choice(SEVERITIES)
        opened = start + timedelta(minutes=5 * number)
        out.append((
            number, f"Incident {number}: weights downloaded by a new actor", "", severity,
            SEVERITIES.index(severity), rng.choice(STATUSES), rng.choice(["alice", "bob", None]),
            f"rule-{number % 17}", orjson.dumps({"actor.id": f"user{number % 500}"}).decode(),
            orjson.dumps(["atlas.aml.t0024"]).decode(), None, opened, opened, 3, opened, "bench",
            opened, 1, 0,
        ))  # fmt: skip
    return out


def load(url: str, n: int) -> float:
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    data = rows(n)
    started = time.perf_counter()
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        placeholders = ", ".join(["%s"] * len(COLUMNS.split(",")))
        cur.executemany(f"INSERT INTO incidents ({COLUMNS}) VALUES ({placeholders})", data)
        cur.execute("UPDATE incident_counter SET value = %s WHERE id = 1", (n,))
        conn.commit()
        conn.autocommit = True
        cur.execute("ANALYZE incidents")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.config import Settings

    with scratch_database("postgresql") as url:
        seconds = load(url, args.incidents)
        print(f"loaded {args.incidents} incidents in {seconds:.1f}s "
              f"({args.incidents / seconds:,.0f} rows/s, psycopg executemany)")  # fmt: skip
        settings = Settings(database_url=url, run_background=False, log_level="WARNING",
                            rate_limit_per_minute=10_000_000, log_format="json")  # fmt: skip
        app = create_app(settings)
        token = make_token(url, Scope.read)
        params = {"status": "open", "severity": "high"}
        timings: list[float] = []
        with TestClient(app) as client:
            client.headers["Authorization"] = f"Bearer {token}"
            for i in range(args.requests + 50):
                t = time.perf_counter()
                r = client.get("/v1/incidents", params=params)
                elapsed = (time.perf_counter() - t) * 1000
                assert r.status_code == 200, r.text
                assert len(r.json()["items"]) == 50
                if i >= 50:  # warm-up: connection pool, statement caches
                    timings.append(elapsed)
            baseline = []
            for _ in range(200):
                t = time.perf_counter()
                client.get("/v1/log/head")
                baseline.append((time.perf_counter() - t) * 1000)
            with app.state.sessionmaker() as session:
                stmt = filtered(session, IncidentFilters(status=["open"], severity=["high"]))
                stmt = stmt.order_by(Incident.number.desc()).limit(51)
                sql = stmt.compile(
                    dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
                )
                plan = session.execute(text(f"EXPLAIN ANALYZE {sql}")).scalars().all()
        timings.sort()
        p50 = statistics.median(timings)
        p99 = timings[int(len(timings) * 0.99) - 1]
        print(f"GET /v1/incidents?status=open&severity=high (first page of 50), "
              f"{len(timings)} requests in-process:")  # fmt: skip
        print(f"  p50 {p50:.2f} ms   p99 {p99:.2f} ms   max {timings[-1]:.2f} ms")
        print(f"  baseline GET /v1/log/head (auth + one-row read): p50 "
              f"{statistics.median(baseline):.2f} ms")  # fmt: skip
        print("query plan:")
        for line in plan:
            print(f"  {line}")
        app.state.engine.dispose()


if __name__ == "__main__":
    main()
