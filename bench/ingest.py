"""Ingest benchmark: HTTP ingest against what the database itself can take.

    .venv/bin/python bench/ingest.py [--events 200000] [--batch 1000] [--repeat 3]
                                     [--replicas 1 2] [--backend postgresql sqlite]

For each database, in the same run and on the same rows (the exact records and payloads
ingest stores, chained, built before the clock starts):

- the ceiling: PostgreSQL, psycopg binary COPY into `log_records`, `log_payloads` and
  `log_event_ids` (the idempotency keys),
  one COPY per table per batch and a commit each; SQLite, stdlib `sqlite3` executemany
  in WAL mode with `synchronous=FULL` (what Custody runs with), a commit per batch;
- HTTP ingest: the same events POSTed as JSON batches to live `custody serve` processes
  (one, or several replicas on the same database, as when the API is scaled out),
  `--clients` concurrent posters spread over them.

Each database is fresh and migrated (same indexes and triggers). Passes are interleaved
and repeated; the medians are printed, then `ingest/copy ratio: X` per database and
number of server processes. The chain is verified after every HTTP pass.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import live_server, make_token, realistic_events, scratch_database
from service.auditlog.prepare import Limits, payload_body
from service.logformat import (
    GENESIS_PREV_HASH,
    RECORD_VERSION,
    canonical_record,
    chain_hash,
    format_time,
    payload_digest,
)

RECORD_COLUMNS = (
    "seq", "received_at", "event_id", "time", "source", "action", "outcome", "actor_type",
    "actor_id", "actor_ip", "actor_user_agent", "resource_type", "resource_id",
    "resource_version", "request_id", "payload_digest", "prev_hash", "hash", "content_hash",
    "v", "origin",
)  # fmt: skip
RECORD_TYPES = ["int8"] + ["text"] * 18 + ["int2", "text"]
PAYLOAD_COLUMNS = ("seq", "salt", "body")
PAYLOAD_TYPES = ["int8", "text", "text"]
EVENT_ID_COLUMNS = ("source", "event_id", "seq", "content_hash")
EVENT_ID_TYPES = ["text", "text", "int8", "text"]
Batch = list[tuple[Any, ...]]
Rows = list[tuple[Batch, Batch, Batch]]


def stored_rows(events: list[dict[str, Any]], batch: int) -> Rows:
    """The rows ingest writes for `events`, chained, in batches (untimed)."""
    limits = Limits(64 * 1024, 256 * 1024)
    received = format_time(datetime.now(UTC))
    prev = GENESIS_PREV_HASH
    out: Rows = []
    for start in range(0, len(events), batch):
        records: Batch = []
        payloads: Batch = []
        ids: Batch = []
        for seq, e in enumerate(events[start : start + batch], start=start + 1):
            body = payload_body(e.get("attributes"), e.get("raw"), limits)
            salt = os.urandom(16)
            digest = payload_digest(salt, body)
            actor, resource = e["actor"], e["resource"]
            time_ = format_time(datetime.fromisoformat(e["time"]))
            record = {
                "v": RECORD_VERSION, "seq": seq, "received_at": received, "id": e["id"],
                "time": time_, "source": e["source"], "action": e["action"],
                "outcome": e["outcome"], "actor": actor, "resource": resource,
                "request_id": e["request_id"], "payload_digest": digest, "prev_hash": prev,
                "origin": "tok_bench",
            }  # fmt: skip
            hash_ = chain_hash(prev, canonical_record(record))
            records.append(
                (seq, received, e["id"], time_, e["source"], e["action"], e["outcome"],
                 actor["type"], actor["id"], actor["ip"], actor["user_agent"],
                 resource["type"], resource["id"], resource["version"], e["request_id"],
                 digest, prev, hash_, hash_, RECORD_VERSION, "tok_bench")
            )  # fmt: skip
            payloads.append((seq, salt.hex(), body.decode()))
            ids.append((e["source"], e["id"], seq, hash_))
            prev = hash_
        out.append((records, payloads, ids))
    return out


def pg_copy(url: str, rows: Rows) -> float:
    """psycopg binary COPY, one per table per batch, a commit each: the ceiling."""
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    records_sql = f"COPY log_records ({', '.join(RECORD_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
    payloads_sql = f"COPY log_payloads ({', '.join(PAYLOAD_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
    ids_sql = f"COPY log_event_ids ({', '.join(EVENT_ID_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
    with psycopg.connect(conninfo) as conn:
        started = time.perf_counter()
        for records, payloads, ids in rows:
            with conn.cursor() as cur:
                with cur.copy(records_sql) as copy:
                    copy.set_types(RECORD_TYPES)
                    for row in records:
                        copy.write_row(row)
                with cur.copy(payloads_sql) as copy:
                    copy.set_types(PAYLOAD_TYPES)
                    for row in payloads:
                        copy.write_row(row)
                with cur.copy(ids_sql) as copy:
                    copy.set_types(EVENT_ID_TYPES)
                    for row in ids:
                        copy.write_row(row)
            conn.commit()
        return time.perf_counter() - started


def sqlite_executemany(url: str, rows: Rows) -> float:
    """stdlib sqlite3 executemany in WAL mode, a commit per batch: the ceiling."""
    path = make_url(url).database
    assert path is not None
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        insert_records = (
            f"INSERT INTO log_records ({', '.join(RECORD_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(RECORD_COLUMNS))})"
        )
        insert_payloads = "INSERT INTO log_payloads (seq, salt, body) VALUES (?, ?, ?)"
        insert_ids = (
            f"INSERT INTO log_event_ids ({', '.join(EVENT_ID_COLUMNS)}) VALUES (?, ?, ?, ?)"
        )
        started = time.perf_counter()
        for records, payloads, ids in rows:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(insert_records, records)
            conn.executemany(insert_payloads, payloads)
            conn.executemany(insert_ids, ids)
            conn.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        conn.close()


def http_ingest(
    url: str, batches: list[bytes], clients: int, replicas: int, concurrency: int | None
) -> float:
    """POST `batches` to `replicas` server processes on one database, clients spread
    over them; their appends serialize on the chain head row, nothing else."""
    token = make_token(url)
    refused: list[int] = []
    with contextlib.ExitStack() as stack:
        servers = [
            stack.enter_context(
                live_server(
                    url,
                    CUSTODY_RUN_BACKGROUND="false",
                    **({"CUSTODY_INGEST_CONCURRENCY": str(concurrency)} if concurrency else {}),
                )
            )
            for _ in range(replicas)
        ]

        def post(n: int) -> None:
            with httpx.Client(
                base_url=servers[n % replicas].url,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                timeout=120,
            ) as c:
                for body in batches[n::clients]:
                    for attempt in range(100):
                        try:
                            r = c.post("/v1/events", content=body)
                            break
                        except httpx.ConnectError:
                            # Seen on this shared machine; counted and reported.
                            refused.append(attempt)
                            time.sleep(0.05)
                    else:
                        raise RuntimeError("the server refused connections for 5 s")
                    r.raise_for_status()

        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(post, range(clients)))
        elapsed = time.perf_counter() - started
        if refused:
            print(f"  ({len(refused)} connections refused and retried)", flush=True)
        check = httpx.get(
            f"{servers[0].url}/v1/log/verify",
            headers={"Authorization": f"Bearer {token}"},
            timeout=600,
        ).json()
        assert check["ok"], check
    return elapsed


def fresh(backend: str, run: Callable[[str], float]) -> float:
    for attempt in (1, 2):
        try:
            with scratch_database(backend) as url:
                return run(url)
        except httpx.HTTPError as exc:
            # Several benchmarks share this machine; a lost port is retried once.
            print(f"pass failed ({exc!r}), attempt {attempt}", file=sys.stderr, flush=True)
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP posters")
    parser.add_argument(
        "--replicas", type=int, nargs="+", default=[1, 2], help="server processes to compare"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="CUSTODY_INGEST_CONCURRENCY of each server (default: the server's own)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="passes; medians are reported")
    parser.add_argument("--backend", nargs="+", default=["postgresql", "sqlite"])
    args = parser.parse_args()

    events = realistic_events(args.events)
    batches = [orjson.dumps(events[i : i + args.batch]) for i in range(0, len(events), args.batch)]
    rows = stored_rows(events, args.batch)
    size = sum(len(b) for b in batches) / len(events)
    print(
        f"{args.events:,} events of ~{size:.0f} bytes in batches of {args.batch}, "
        f"{args.clients} clients, median of {args.repeat}",
        flush=True,
    )
    ceilings: dict[str, Callable[[str], float]] = {
        "postgresql": lambda url: pg_copy(url, rows),
        "sqlite": lambda url: sqlite_executemany(url, rows),
    }
    labels = {"postgresql": "psycopg binary COPY", "sqlite": "sqlite3 executemany (WAL)"}
    for backend in args.backend:
        ceiling: list[float] = []
        ingest: dict[int, list[float]] = {w: [] for w in args.replicas}
        for _ in range(args.repeat):  # interleaved: load on the machine hits all alike
            ceiling.append(fresh(backend, ceilings[backend]))
            for w in args.replicas:
                ingest[w].append(
                    fresh(
                        backend,
                        lambda url, w=w: http_ingest(
                            url, batches, args.clients, w, args.concurrency
                        ),
                    )
                )
        base = args.events / statistics.median(ceiling)
        print(f"{backend:>10}  {labels[backend]:<28}{base:>10,.0f} rows/s", flush=True)
        for w, times in ingest.items():
            got = args.events / statistics.median(times)
            spread = ", ".join(f"{args.events / t:,.0f}" for t in times)
            print(
                f"{backend:>10}  HTTP ingest, {w} process(es)   {got:>10,.0f} events/s  "
                f"({spread})  ingest/copy ratio: {got / base:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
