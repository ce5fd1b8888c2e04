"""Ingest benchmark: HTTP + validation + chaining versus a raw batched insert.

    .venv/bin/python bench/ingest.py [--events 200000] [--batch 1000] [--backend postgresql sqlite]

For each database, in the same run: (1) POST the events in batches to a live
`custody serve` (one uvicorn process) and (2) insert the same rows with a plain
SQLAlchemy Core executemany into a fresh database (no validation, no chain). Prints
both rates and their ratio; the issue's target is >= 0.35 on PostgreSQL.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import live_server, make_token, rate, realistic_events, scratch_database
from service.auditlog.models import LogPayload, LogRecord
from service.db import make_engine


def http_ingest(url: str, batches: list[bytes], clients: int) -> float:
    token = make_token(url)
    with live_server(url, CUSTODY_RUN_BACKGROUND="false") as server:
        base = server.url

        def post(chunk: list[bytes]) -> None:
            with httpx.Client(
                base_url=base,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                timeout=120,
            ) as c:
                for body in chunk:
                    r = c.post("/v1/events", content=body)
                    r.raise_for_status()

        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(post, [batches[i::clients] for i in range(clients)]))
        elapsed = time.perf_counter() - started
        check = httpx.get(
            f"{base}/v1/log/verify", headers={"Authorization": f"Bearer {token}"}, timeout=600
        ).json()
        assert check["ok"], check
    return elapsed


def raw_insert(url: str, events: list[dict], batch: int) -> float:
    zero = "0" * 64
    rows, payloads = [], []
    for seq, e in enumerate(events, start=1):
        digest = hashlib.sha256(str(seq).encode()).hexdigest()
        rows.append(
            {
                "seq": seq,
                "received_at": "2026-12-01T00:00:00.000000Z",
                "event_id": e["id"],
                "time": e["time"],
                "source": e["source"],
                "action": e["action"],
                "outcome": e["outcome"],
                "actor_type": e["actor"]["type"],
                "actor_id": e["actor"]["id"],
                "actor_ip": e["actor"]["ip"],
                "actor_user_agent": e["actor"]["user_agent"],
                "resource_type": e["resource"]["type"],
                "resource_id": e["resource"]["id"],
                "resource_version": e["resource"]["version"],
                "request_id": e["request_id"],
                "payload_digest": digest,
                "prev_hash": zero,
                "hash": digest,
                "content_hash": digest,
            }
        )
        payloads.append(
            {"seq": seq, "salt": "00" * 16, "body": orjson.dumps(e["attributes"]).decode()}
        )
    engine = make_engine(url)
    try:
        started = time.perf_counter()
        for i in range(0, len(rows), batch):
            with engine.begin() as conn:
                conn.execute(insert(LogRecord.__table__), rows[i : i + batch])
                conn.execute(insert(LogPayload.__table__), payloads[i : i + batch])
        return time.perf_counter() - started
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=2, help="concurrent HTTP clients")
    parser.add_argument("--backend", nargs="+", default=["postgresql", "sqlite"])
    args = parser.parse_args()

    events = realistic_events(args.events)
    batches = [orjson.dumps(events[i : i + args.batch]) for i in range(0, len(events), args.batch)]
    size = sum(len(b) for b in batches) / len(events)
    print(f"{args.events:,} events of ~{size:.0f} bytes in batches of {args.batch}")
    for backend in args.backend:
        with scratch_database(backend) as url:
            http = http_ingest(url, batches, args.clients)
        with scratch_database(backend) as url:
            raw = raw_insert(url, events, args.batch)
        print(
            f"{backend:>10}  HTTP ingest {rate(args.events, http)}   "
            f"raw Core insert {rate(args.events, raw)}   ratio {raw / http:.2f}"
        )


if __name__ == "__main__":
    main()
