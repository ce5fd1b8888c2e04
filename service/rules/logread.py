"""Reading stored events in the shape the engine consumes (`queries.to_public`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.auditlog import queries
from service.auditlog.models import LogRecord
from service.auditlog.schemas import EventFilters
from service.logformat import format_time, parse_time
from service.rules.timeutil import span_us, to_us

if TYPE_CHECKING:
    from service.rules.engine import Engine

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
    events = [
        queries.to_public(row, include_raw=False) for row in rows if row.source != INTERNAL_SOURCE
    ]
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
            yield queries.to_public(row, include_raw=False)
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


def replay_start(*, session: Session, engine: Engine, to_seq: int) -> int:
    """Seq after which to replay the log to rebuild `engine` at `to_seq` without a snapshot.

    Events that arrived more than (idle timeout + the engine's widest window) before the
    record at `to_seq` belong to sources that are idle by then, or to windows that are
    over: replay starts at the first record that arrived after that (seq order is arrival
    order). A source that keeps sending events older than that is the approximation.
    """
    if to_seq <= 0:
        return 0
    horizon = span_us(engine.policy.idle_timeout + engine.max_window())
    newest = _arrival(session, to_seq)
    if newest is None:
        return 0
    since = newest - horizon
    lo, hi = 1, to_seq  # find the first seq whose arrival >= since
    while lo < hi:
        mid = (lo + hi) // 2
        arrived = _arrival(session, mid)
        if arrived is not None and arrived >= since:
            hi = mid
        else:
            lo = mid + 1
    return lo - 1


def _arrival(session: Session, seq: int) -> int | None:
    value = session.execute(
        select(LogRecord.received_at).where(LogRecord.seq == seq)
    ).scalar_one_or_none()
    return None if value is None else to_us(str(value))


def first_seq_since(*, session: Session, since: datetime) -> int | None:
    """The smallest seq of an event whose time is >= since (uses the time index)."""
    value = session.execute(
        select(func.min(LogRecord.seq)).where(
            LogRecord.time >= format_time(since), LogRecord.source != INTERNAL_SOURCE
        )
    ).scalar_one_or_none()
    return None if value is None else int(value)


def last_seq_before(*, session: Session, until: datetime) -> int | None:
    """The largest seq of an event whose time is < until (uses the time index)."""
    value = session.execute(
        select(func.max(LogRecord.seq)).where(
            LogRecord.time < format_time(until), LogRecord.source != INTERNAL_SOURCE
        )
    ).scalar_one_or_none()
    return None if value is None else int(value)
