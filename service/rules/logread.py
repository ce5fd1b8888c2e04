"""Reading stored events in the shape the engine consumes.

The original vendor record (`raw`) is included: rules of a vendor logsource read it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from service.auditlog.models import LogPayload, LogRecord
from service.logformat import format_time, parse_time
from service.rules.eventtime import INTERNAL_SOURCE, TICK_ACTION
from service.rules.timeutil import span_us, to_us

if TYPE_CHECKING:
    from service.rules.engine import Engine

_STREAM = 2000
# Custody's own records (audited reads, token and incident changes) carry the server's
# clock; fed to the engine they would push its watermark past backfilled or delayed
# shipper events and turn those "late". Rules correlate what shippers send.
# ...except the runner's clock ticks (`TICK_ACTION`): on a quiet log they carry
# processing time forward, so triggers held for their grace (`custom.not_preceded_by`)
# are decided; being records, backtests see them exactly as the live run did.


R = LogRecord
_ENGINE_COLUMNS = (
    R.seq, R.received_at, R.time, R.source, R.action, R.outcome, R.actor_type, R.actor_id,
    R.actor_ip, R.actor_user_agent, R.resource_type, R.resource_id, R.resource_version,
    R.request_id, LogPayload.body,
)  # fmt: skip


def _select(after_seq: int, to_seq: int | None) -> Any:
    stmt = (
        select(*_ENGINE_COLUMNS)
        .select_from(LogRecord)
        .outerjoin(LogPayload, LogPayload.seq == LogRecord.seq)
        .where(LogRecord.seq > after_seq)
        .order_by(LogRecord.seq)
    )
    return stmt if to_seq is None else stmt.where(LogRecord.seq <= to_seq)


def _event(row: Any) -> dict[str, Any]:
    """The engine's view of a record: what rules can read (`service.rules.fields`), its
    seq and times. Leaner than the API shape, and this runs for every event."""
    (seq, received, time, source, action, outcome, a_type, a_id, a_ip, a_ua, r_type, r_id,
     r_version, request_id, body) = row  # fmt: skip
    actor = {
        k: v
        for k, v in (("type", a_type), ("id", a_id), ("ip", a_ip), ("user_agent", a_ua))
        if v is not None
    }
    resource = {
        k: v for k, v in (("type", r_type), ("id", r_id), ("version", r_version)) if v is not None
    }
    return {
        "seq": seq,
        "received_at": received,
        "time": time,
        "source": source,
        "action": action,
        "outcome": outcome,
        "actor": actor or None,
        "resource": resource or None,
        "request_id": request_id,
        **_payload(body),
    }


def _payload(body: str | None) -> dict[str, Any]:
    if body is None:  # erased
        return {"attributes": None, "raw": None}
    payload = orjson.loads(body)
    return {"attributes": payload["attributes"], "raw": payload.get("raw")}


def read_batch(
    *, session: Session, after_seq: int, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """(events to correlate, last seq read) of the next `limit` records after `after_seq`."""
    rows = session.execute(_select(after_seq, None).limit(limit)).all()
    events = [_event(row) for row in rows if row[3] != INTERNAL_SOURCE or row[4] == TICK_ACTION]
    return events, (int(rows[-1][0]) if rows else None)


def stream_events(
    *,
    session: Session,
    after_seq: int = 0,
    to_seq: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[dict[str, Any]]:
    """Events in seq order with flat memory; `since`/`until` filter on event time."""
    stmt = _select(after_seq, to_seq).where(
        or_(LogRecord.source != INTERNAL_SOURCE, LogRecord.action == TICK_ACTION)
    )
    if since is not None:
        stmt = stmt.where(LogRecord.time >= format_time(since))
    if until is not None:
        stmt = stmt.where(LogRecord.time < format_time(until))
    result = session.execute(stmt.execution_options(yield_per=_STREAM))
    try:
        for row in result:
            yield _event(row)
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
