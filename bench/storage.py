"""Storage per event: what the log (records, payloads, Merkle tree) costs on disk.

    python bench/storage.py [--events 20000]

Ingests realistic events over HTTP into a scratch database of each kind, lets the
checkpointer build the tree, and prints bytes per event. The baseline is the events'
own JSON size (what a shipper sends), so the ratio is the storage overhead.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import time
from pathlib import Path

import httpx
import orjson
import psycopg
from sqlalchemy.engine import make_url

from bench.common import live_server, make_token, realistic_events, scratch_database
from service.config import Settings
from service.db import database
from service.evidence.task import Checkpointer

TABLES = ("log_records", "log_payloads", "merkle_nodes")


def _ingest(url: str, events: list[dict[str, object]]) -> None:
    token = make_token(url)
    with live_server(url) as server, httpx.Client(timeout=60) as client:
        for start in range(0, len(events), 1000):
            r = client.post(f"{server.url}/v1/events", json=events[start : start + 1000],
                            headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            r.raise_for_status()


def _build_tree(url: str, key: Path) -> None:
    task = Checkpointer(Settings(database_url=url, signing_key_path=key))
    with database(url) as factory:
        while task.run_once(factory):
            pass


def _sqlite_bytes(url: str) -> dict[str, int]:
    path = make_url(url).database
    assert path is not None
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = conn.execute(
            "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"
        ).fetchall()  # tables with their indexes are summed below by prefix
    sizes = dict.fromkeys(TABLES, 0)
    for name, size in rows:
        for table in TABLES:
            if name == table or name.startswith(f"ix_{table}") or name.startswith(
                f"sqlite_autoindex_{table}"
            ) or name.startswith(f"uq_{table}"):
                sizes[table] += int(size)
    sizes["file"] = os.path.getsize(path)
    return sizes


def _pg_bytes(url: str) -> dict[str, int]:
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as conn:
        return {
            t: int(conn.execute("SELECT pg_total_relation_size(%s)", (t,)).fetchone()[0])  # type: ignore[index]
            for t in TABLES  # tables with their indexes and TOAST
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    events = realistic_events(args.events)
    sent = sum(len(orjson.dumps(e)) for e in events)
    print(f"{args.events} realistic events, {sent / args.events:.0f} bytes of JSON each as sent")
    for backend in ("sqlite", "postgresql"):
        with scratch_database(backend) as url:
            began = time.perf_counter()
            _ingest(url, events)
            key = Path(f"/tmp/custody-storage-{os.getpid()}.pem")
            _build_tree(url, key)
            key.unlink(missing_ok=True)
            sizes = _sqlite_bytes(url) if backend == "sqlite" else _pg_bytes(url)
            total = sum(sizes[t] for t in TABLES)
            parts = ", ".join(f"{t} {sizes[t] / args.events:.0f}" for t in TABLES)
            print(f"{backend}: {total / args.events:.0f} bytes/event ({parts}); "
                  f"{time.perf_counter() - began:.0f} s")  # fmt: skip
            print(f"{backend} storage/sent ratio: {total / sent:.2f}")


if __name__ == "__main__":
    main()
