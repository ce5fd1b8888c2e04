"""Reading stored events in the shape the engine consumes (`queries.to_public`).

The original vendor record (`raw`) is included: rules of a vendor logsource read it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.auditlog import queries
from service.auditlog.models import LogRecord
from service.auditlog.schemas import EventFilters
from service.logformat import parse_time

_STREAM = 2000
# Custody's own records (audited reads, token and incident changes) carry the server's
# clock; fed to the engine they would push its watermark past backfilled or delayed
# shipper events and turn those "late". Rules correlate what shippers send.
INTERNAL_SOURCE = "custody"


def read_batch(
    *, session: Session, after_seq: int, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """(events to correlate, last seq read) of the next `limit` records after `after_seq`."""
    rows = session.execute(queries.filtered(EventFilters(), after_seq=after_seq).limit(limit)).all()
    events = [queries.to_public(row) for row in rows if row.source != INTERNAL_SOURCE]
    return events, (int(rows[-1].seq) if rows else None)


def stream_events(
    *,
    session: Session,
    after_seq: int = 0,
    to_seq: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[dict[str, Any]]:
    """Events in seq order with flat memory; `since`/`until` filter on event time."""
    stmt = queries.filtered(
        EventFilters(since=since, until=until), after_seq=after_seq, to_seq=to_seq
    ).where(LogRecord.source != INTERNAL_SOURCE)
    result = session.execute(stmt.execution_options(yield_per=_STREAM))
    try:
        for row in result:
            yield queries.to_public(row)
    finally:
        result.close()


def newest_time(*, session: Session, to_seq: int) -> datetime | None:
    """The latest event time among seqs <= to_seq (the engine's clock at that cursor)."""
    value = session.execute(
        select(func.max(LogRecord.time)).where(
            LogRecord.seq <= to_seq, LogRecord.source != INTERNAL_SOURCE
        )
    ).scalar_one_or_none()
    return None if value is None else parse_time(str(value))
