"""Verification, replay and proof benchmark on PostgreSQL (issue 7).

    .venv/bin/python bench/verify.py [--events 1000000]

Creates and drops its own database (from CUSTODY_TEST_POSTGRES_URL). Loads N chained
events fast (records built with the chain code, written with COPY, not over HTTP),
builds the Merkle tree with the checkpointer's own code and signs a checkpoint, then
measures, in the same run and over the same rows:

- bare read: the SELECT `custody verify` issues (records joined with payloads),
  iterating rows and doing nothing else: the ceiling;
- chain verification (`verify_chain`, what `custody verify` runs) and its ratio to the
  bare read (target >= 0.5);
- replay's own read (streamed driver tuples, no work), which shows how much of the
  replay time is the database and the driver;
- verified replay of the whole log: the body of `GET /v1/replay` as the route builds it
  (`replay_stream`: hash, links, payload digests, inclusion of every record under the
  checkpoint, NDJSON lines), with its ratio to the bare read (target >= 0.5);
- inclusion and consistency proof latency at N (one `get_many` round trip each).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bench.common import rate, scratch_database
from service.auditlog.models import LogPayload, LogRecord
from service.auditlog.prepare import payload_body
from service.auditlog.verify import verify_chain
from service.db import database, session_scope
from service.evidence import proofs
from service.evidence.checkpoints import Signer, signing_key, store_checkpoint
from service.evidence.replay import BATCH as REPLAY_BATCH
from service.evidence.replay import COLUMNS as REPLAY_COLUMNS
from service.evidence.replay_api import replay_stream
from service.evidence.schemas import Scope
from service.evidence.selection import select_scope
from service.evidence.store import append_from_log, read_tree
from service.logformat import (
    GENESIS_PREV_HASH,
    RECORD_VERSION,
    canonical_record,
    chain_hash,
    format_time,
    payload_digest,
)
from service.rowstream import row_batches

RECORD_COLUMNS = (
    "seq", "received_at", "event_id", "time", "source", "action", "outcome", "actor_type",
    "actor_id", "actor_ip", "actor_user_agent", "resource_type", "resource_id",
    "resource_version", "request_id", "payload_digest", "prev_hash", "hash", "content_hash",
    "v", "origin",
)  # fmt: skip
ACTIONS = ("model.invoke",) * 3 + ("model.read", "model.weights.download", "dataset.read")


def chained_rows(n: int) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]]:
    """(log_records row, log_payloads row) for seq 1..n, chained exactly as ingest does."""
    rng = random.Random(7)
    received = format_time(datetime.now(UTC))
    prev = GENESIS_PREV_HASH
    for seq in range(1, n + 1):
        actor = {"type": "user", "id": f"user{rng.randrange(500)}@example.com",
                 "ip": f"203.0.113.{rng.randrange(255)}", "user_agent": "openai-python/1.54.0"}  # fmt: skip
        resource = {"type": "model", "id": f"llm-{rng.randrange(20)}", "version": "2026-11-01"}
        attributes = {"tokens_in": rng.randrange(4000), "tokens_out": rng.randrange(1000),
                      "latency_ms": rng.randrange(3000), "region": "eu-west-1"}  # fmt: skip
        body = payload_body(attributes, None)
        salt = os.urandom(16)
        digest = payload_digest(salt, body)
        time_ = f"2026-11-{1 + seq // 86400 % 28:02d}T{seq // 3600 % 24:02d}:{seq // 60 % 60:02d}:{seq % 60:02d}.000000Z"
        action = ACTIONS[seq % len(ACTIONS)]
        record = {
            "v": RECORD_VERSION, "seq": seq, "received_at": received, "id": f"evt-{seq}",
            "time": time_, "source": "inference-gateway", "action": action,
            "outcome": "success", "actor": actor, "resource": resource,
            "request_id": f"req-{seq}", "payload_digest": digest, "prev_hash": prev,
            "origin": "tok_bench",
        }  # fmt: skip
        digest_hash = chain_hash(prev, canonical_record(record))
        yield (
            (seq, received, f"evt-{seq}", time_, "inference-gateway", action, "success",
             actor["type"], actor["id"], actor["ip"], actor["user_agent"], resource["type"],
             resource["id"], resource["version"], f"req-{seq}", digest, prev, digest_hash,
             digest_hash,  # content_hash only matters for idempotency lookups
             RECORD_VERSION, "tok_bench"),
            (seq, salt.hex(), body.decode()),
        )  # fmt: skip
        prev = digest_hash


def load(url: str, n: int) -> float:
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    started = time.perf_counter()
    head = (0, GENESIS_PREV_HASH)
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        # Payload rows are written after the records (foreign key), from a temp file.
        with tempfile.TemporaryFile("w+") as spool:
            with cur.copy(f"COPY log_records ({', '.join(RECORD_COLUMNS)}) FROM STDIN") as copy:
                for record, payload in chained_rows(n):
                    copy.write_row(record)
                    spool.write(f"{payload[0]}\t{payload[1]}\t{_escape(payload[2])}\n")
                    head = (record[0], record[17])
            spool.seek(0)
            with cur.copy("COPY log_payloads (seq, salt, body) FROM STDIN") as copy:
                while chunk := spool.read(1 << 20):
                    copy.write(chunk)
        cur.execute("UPDATE log_head SET seq = %s, hash = %s WHERE id = 1", head)
        conn.commit()
        cur.execute("ANALYZE")
    return time.perf_counter() - started


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def build_tree(factory: Any, n: int) -> float:
    started = time.perf_counter()
    size = 0
    while size < n:
        with session_scope(factory) as session:
            tree = read_tree(session, lock=True)
            append_from_log(session=session, tree=tree, limit=50_000)
            size = tree.size
    return time.perf_counter() - started


def bare_read(factory: Any) -> float:
    stmt = (
        select(*LogRecord.__table__.columns, LogPayload.salt, LogPayload.body)
        .outerjoin(LogPayload, LogPayload.seq == LogRecord.seq)
        .order_by(LogRecord.seq)
        .execution_options(yield_per=5000)
    )
    started = time.perf_counter()
    with session_scope(factory) as session:
        # The same execution path as verify_chain (Core, server-side cursor, batches).
        count = sum(1 for _ in session.connection().execute(stmt))
    assert count > 0
    return time.perf_counter() - started


def stream_read(factory: Any) -> float:
    """Replay's own read (its SELECT through `row_batches`), doing nothing with the rows:
    how much of the replay time is the database and the driver."""
    started = time.perf_counter()
    with session_scope(factory) as session:
        stmt = select_scope(session=session, scope=Scope())
        stmt = stmt.with_only_columns(*REPLAY_COLUMNS, maintain_column_froms=True)
        with row_batches(session, stmt, REPLAY_BATCH) as (_, batches):
            count = sum(len(rows) for rows in batches)
    assert count > 0
    return time.perf_counter() - started


def verify(factory: Any, n: int) -> float:
    started = time.perf_counter()
    with session_scope(factory) as session:
        report = verify_chain(session=session)
    assert report.ok, report
    assert report.checked == n, report
    return time.perf_counter() - started


def verified_replay(factory: Any, n: int, public_key: Any) -> tuple[float, int]:
    """The body of GET /v1/replay for the whole log, as the route builds it: the scope's
    SELECT, then the NDJSON generator on its own session. Returns (seconds, bytes)."""
    started = time.perf_counter()
    with session_scope(factory) as session:
        stmt = select_scope(session=session, scope=Scope())
    size, last = 0, b""
    for chunk in replay_stream(factory, Scope(), stmt, public_key):
        size += len(chunk)
        last = chunk
    assert b'"verified":true' in last, last[-300:]
    assert f'"anchored":{n}'.encode() in last, last[-300:]
    return time.perf_counter() - started, size


def timed(label: str, n: int, seconds: float, ceiling: float | None = None) -> None:
    ratio = f"  ratio to bare read {ceiling / seconds:.2f}" if ceiling else ""
    print(f"{label:<32}{rate(n, seconds)}  ({seconds:.2f} s){ratio}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=200)
    args = parser.parse_args()
    n = args.events
    with scratch_database("postgresql") as url, database(url) as factory:
        print(f"PostgreSQL, {n:,} events", flush=True)
        timed("load (chain + COPY)", n, load(url, n))
        timed("Merkle tree build", n, build_tree(factory, n))
        with tempfile.TemporaryDirectory() as tmp, session_scope(factory) as session:
            key = signing_key(Path(tmp) / "key.pem")
            signer = Signer(key, None)  # a throwaway log: nothing to guard
            store_checkpoint(session=session, signer=signer, tree=read_tree(session))
        bare_read(factory)  # warm the cache so every pass reads from memory alike
        # Interleaved, best of two each: other load on the machine hits all alike. The
        # load average printed after says how busy the machine was.
        reads, streams, verifies, replays = [], [], [], []
        size = 0
        for _ in range(2):
            reads.append(bare_read(factory))
            streams.append(stream_read(factory))
            verifies.append(verify(factory, n))
            seconds, size = verified_replay(factory, n, key.public_key())
            replays.append(seconds)
        ceiling = min(reads)
        timed("bare read (ceiling)", n, ceiling)
        timed("chain verification", n, min(verifies), ceiling)
        timed("replay's read alone", n, min(streams), ceiling)
        timed("verified replay (NDJSON)", n, min(replays), ceiling)
        print(f"{'':<32}{size / min(replays) / 1e6:.0f} MB/s of NDJSON ({size / n:.0f} B/record)")
        print(f"load average (1, 5, 15 min) {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        rng = random.Random(1)
        for label, call in (
            ("inclusion proof", lambda s: proofs.inclusion(
                session=s, seq=rng.randrange(1, n + 1), tree_size_=n)),
            ("consistency proof", lambda s: proofs.consistency(
                session=s, first=rng.randrange(1, n), second=n)),
        ):  # fmt: skip
            latencies = []
            with session_scope(factory) as session:
                for _ in range(args.proofs):
                    t0 = time.perf_counter()
                    call(session)
                    latencies.append((time.perf_counter() - t0) * 1000)
            latencies.sort()
            p99 = latencies[int(len(latencies) * 0.99) - 1]
            print(
                f"{label + ' at ' + format(n, ','):<32}median {statistics.median(latencies):.2f} ms"
                f"  p99 {p99:.2f} ms  ({args.proofs} random)",
                flush=True,
            )


if __name__ == "__main__":
    main()
