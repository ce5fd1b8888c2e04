"""Start-up time of the rules runner over a large log, with and without its snapshot.

    .venv/bin/python bench/rules_startup.py [--events 1000000] [--catch-up 20000]

1. Load --events synthetic events (the bench/rules.py mix, ~100 events/s of event time,
   arriving as they happen) straight into a fresh SQLite log (records are not chained:
   the runner never reads hashes; this is about the runner's start-up, not ingest).
2. Put the runner's cursor --catch-up events behind the head and let a runner catch up
   (it saves snapshots of its engine state with the cursor).
3. Time a restarted runner's start-up (build the engine up to the cursor) from the
   snapshot, then without it (snapshot invalidated: replay of the log), in the same run.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service import migrate  # noqa: E402
from service.auditlog.prepare import payload_body  # noqa: E402
from service.config import Settings  # noqa: E402
from service.db import make_engine, make_sessionmaker  # noqa: E402
from service.logformat import format_time  # noqa: E402
from service.rules.bench import synthetic_events  # noqa: E402
from service.rules.runner import RuleRunner  # noqa: E402
from service.rules.timeutil import from_us, to_us  # noqa: E402

CHUNK = 50_000
COLUMNS = (
    "seq", "received_at", "event_id", "time", "source", "action", "outcome", "actor_type",
    "actor_id", "actor_ip", "resource_type", "resource_id", "request_id", "payload_digest",
    "prev_hash", "hash", "content_hash", "v", "origin",
)  # fmt: skip


def load(path: Path, total: int) -> None:
    conn = sqlite3.connect(path)
    zero = "0" * 64
    seq = 0
    # Arrivals 10 ms apart, the last one now: what a live log of this size looks like.
    first_arrival = datetime.now(UTC) - timedelta(milliseconds=10 * total)
    for chunk in range(0, total, CHUNK):
        shift = timedelta(seconds=chunk // 100)  # 100 events/s of event time
        records, payloads = [], []
        for e in synthetic_events(count=min(CHUNK, total - chunk), seed=chunk):
            seq += 1
            moment = from_us(to_us(e["time"])) + shift
            arrived = first_arrival + timedelta(milliseconds=seq * 10)
            actor, resource = e["actor"], e["resource"]
            records.append(
                (seq, format_time(arrived), f"e{seq}", format_time(moment), e["source"],
                 e["action"], e["outcome"], actor["type"], actor["id"], actor["ip"],
                 resource["type"], resource["id"], e["request_id"], zero, zero, zero, zero,
                 2, "bench")
            )  # fmt: skip
            payloads.append((seq, "00" * 16, payload_body(e["attributes"], None).decode()))
        marks = ", ".join("?" * len(COLUMNS))
        conn.executemany(
            f"INSERT INTO log_records ({', '.join(COLUMNS)}) VALUES ({marks})",
            records,
        )
        conn.executemany("INSERT INTO log_payloads (seq, salt, body) VALUES (?, ?, ?)", payloads)
        conn.commit()
    conn.execute("UPDATE log_head SET seq = ? WHERE id = 1", (seq,))
    conn.commit()
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--catch-up", type=int, default=20_000)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "startup.db"
        url = f"sqlite:///{path}"
        migrate.upgrade(url)
        began = time.perf_counter()
        load(path, args.events)
        print(f"loaded {args.events:,} events in {time.perf_counter() - began:.1f} s")
        conn = sqlite3.connect(path)
        conn.execute("UPDATE rule_engine_state SET cursor = ?", (args.events - args.catch_up,))
        conn.commit()
        factory = make_sessionmaker(make_engine(url))
        settings = Settings(database_url=url)

        def runner() -> RuleRunner:
            return RuleRunner(
                rules_dir=ROOT / "rules",
                runbooks_dir=ROOT / "runbooks",
                snapshot_every=settings.rules_snapshot_every_seconds,
            )

        began = time.perf_counter()
        task = runner()
        while task.run_once(factory):
            pass
        print(f"catch-up of {args.catch_up:,} events: {time.perf_counter() - began:.1f} s")
        # The idle poll at the end saves nothing; make sure the last state is snapshotted.
        task.snapshot_every = 0.0
        conn.execute("UPDATE rule_engine_state SET cursor = cursor - 1")
        conn.commit()
        task.run_once(factory)

        restarted = runner()
        began = time.perf_counter()
        restarted.run_once(factory)
        with_snapshot = time.perf_counter() - began
        print(f"start-up from the snapshot: {with_snapshot:.2f} s ({restarted.warmup})")

        conn.execute("UPDATE rule_snapshot SET fingerprint = 'stale'")
        conn.commit()
        replayed = runner()
        began = time.perf_counter()
        replayed.run_once(factory)
        without = time.perf_counter() - began
        print(f"start-up replaying the log: {without:.2f} s ({replayed.warmup})")
        print(f"start-up snapshot/replay ratio: {with_snapshot / without:.3f}")
        conn.close()


if __name__ == "__main__":
    main()
