"""Reading stored events in the shape the engine consumes (`queries.to_public`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.auditlog import queries
from service.auditlog.models import LogRecord
from service.auditlog.record import parse_time
from service.auditlog.schemas import EventFilters

_STREAM = 2000


def read_batch(*, session: Session, after_seq: int, limit: int) -> list[dict[str, Any]]:
    rows = session.execute(queries.filtered(EventFilters(), after_seq=after_seq).limit(limit)).all()
    return [queries.to_public(row, include_raw=False) for row in rows]


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
    )
    result = session.execute(stmt.execution_options(yield_per=_STREAM))
    try:
        for row in result:
            yield queries.to_public(row, include_raw=False)
    finally:
        result.close()


def newest_time(*, session: Session, to_seq: int) -> datetime | None:
    """The latest event time among seqs <= to_seq (the engine's clock at that cursor)."""
    value = session.execute(
        select(func.max(LogRecord.time)).where(LogRecord.seq <= to_seq)
    ).scalar_one_or_none()
    return None if value is None else parse_time(str(value))
