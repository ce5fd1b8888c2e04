"""Concurrent writers on PostgreSQL never fork the chain, leave a gap or double-store."""

from __future__ import annotations

import multiprocessing as mp

from sqlalchemy import func, select

from service.auditlog.models import LogRecord
from service.auditlog.parse import parse_events
from service.auditlog.prepare import Limits
from service.auditlog.service import IngestOptions, ingest
from service.auditlog.verify import verify_chain
from service.db import database, session_scope

WRITERS = 4
EVENTS_PER_WRITER = 500
BATCH = 50


def _writer(url: str, writer: int) -> None:
    import orjson

    options = IngestOptions(limits=Limits(65536, 262144), origin="tok_writer")
    with database(url) as factory:
        for start in range(0, EVENTS_PER_WRITER, BATCH):
            batch = [
                {
                    "id": f"w{writer}-{i}",
                    "time": "2026-11-30T12:00:00Z",
                    "source": "gw",
                    "action": "model.invoke",
                    "actor": {"id": f"writer-{writer}"},
                }
                for i in range(start, start + BATCH)
            ]
            # every other batch is retried, as a shipper would after a timeout
            for _ in range(2 if start % (2 * BATCH) == 0 else 1):
                parsed = parse_events(orjson.dumps(batch), "application/json", max_events=10_000)
                with session_scope(factory) as session:
                    ingest(session=session, parsed=parsed, options=options)


def test_parallel_writers_keep_one_valid_chain(pg_url: str) -> None:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(pg_url, w)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with database(pg_url) as factory, factory() as session:
        total = session.execute(select(func.count()).select_from(LogRecord)).scalar_one()
        seqs = session.execute(select(func.min(LogRecord.seq), func.max(LogRecord.seq))).one()
        distinct = session.execute(
            select(func.count(func.distinct(LogRecord.event_id)))
        ).scalar_one()
        report = verify_chain(session=session)
    assert total == WRITERS * EVENTS_PER_WRITER
    assert tuple(seqs) == (1, total)
    assert distinct == total
    assert report.ok, report
    assert report.checked == total
