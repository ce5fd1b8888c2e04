"""Console list pages at scale on PostgreSQL, against the JSON API for the same data.

    .venv/bin/python bench/console.py [--incidents 100000] [--events 1000000] [--requests 200]

Creates and drops its own database (from CUSTODY_TEST_POSTGRES_URL); bulk-loads the
incidents (bench/incidents.py) and chained events (bench/verify.py, COPY), signs in to
the console once, then times each page through the ASGI app (session check, queries,
template rendering) and the API route that serves the same rows, in the same run.
Prints p50/p99 per page and the console/API ratio. The issue's target: list pages
under 100 ms at 100k incidents and 10M events (pass --events 10000000: ~6 GB, slow).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient

from bench import incidents as incident_bench
from bench import verify as event_bench
from bench.common import make_token, rate, scratch_database
from service.auth.schemas import Scope

PAGES = [
    # (label, console URL, API URL serving the same rows)
    ("queue (active, by severity)", "/console/",
     "/v1/incidents?status=open,acknowledged,contained&sort=-severity"),
    ("queue filtered (high, open)", "/console/?status=open&severity=high",
     "/v1/incidents?status=open&severity=high&sort=-severity"),
    ("incident page", "/console/incidents/INC-50000", "/v1/incidents/INC-50000"),
    ("log explorer (first page)", "/console/log", "/v1/events?limit=50"),
    ("log explorer by actor", "/console/log?actor=user7%40example.com",
     "/v1/events?limit=50&actor=user7%40example.com"),
    ("log explorer by action", "/console/log?action=dataset.read",
     "/v1/events?limit=50&action=dataset.read"),
]  # fmt: skip


def timed(client: TestClient, url: str, n: int, **kw: object) -> list[float]:
    out = []
    for i in range(n + 10):
        t = time.perf_counter()
        r = client.get(url, **kw)  # type: ignore[arg-type]
        elapsed = (time.perf_counter() - t) * 1000
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
        if i >= 10:  # warm-up
            out.append(elapsed)
    return sorted(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    from service.app import create_app
    from service.config import Settings

    with scratch_database("postgresql") as url:
        seconds = event_bench.load(url, args.events)
        print(
            f"loaded {args.events:,} chained events in {seconds:.1f}s ({rate(args.events, seconds)})"
        )
        seconds = incident_bench.load(url, args.incidents)
        print(f"loaded {args.incidents:,} incidents in {seconds:.1f}s")
        settings = Settings(database_url=url, run_background=False, log_level="WARNING",
                            rate_limit_per_minute=10_000_000, log_format="json")  # fmt: skip
        app = create_app(settings)
        token = make_token(url, Scope.read)
        with TestClient(app) as console, TestClient(app) as api:
            form = console.get("/console/login").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', form)
            assert csrf
            r = console.post("/console/login", data={"csrf": csrf[1], "token": token},
                             follow_redirects=False)  # fmt: skip
            assert r.status_code == 303, r.text
            api.headers["Authorization"] = f"Bearer {token}"
            print(f"{'page':32} {'console p50':>12} {'p99':>8} {'API p50':>9} {'ratio':>6}")
            for label, page, json_url in PAGES:
                ours = timed(console, page, args.requests)
                theirs = timed(api, json_url, args.requests)
                p50, p99 = statistics.median(ours), ours[int(len(ours) * 0.99) - 1]
                base = statistics.median(theirs)
                print(f"{label:32} {p50:10.2f}ms {p99:6.2f}ms {base:7.2f}ms {p50 / base:6.2f}")
        app.state.engine.dispose()


if __name__ == "__main__":
    main()
