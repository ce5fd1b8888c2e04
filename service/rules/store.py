"""Database side of the live engine: the lease/cursor row, first-seen memory, counters.

All functions join the caller's transaction; the runner commits a batch's incidents,
seen-store writes, counters and cursor together.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, delete, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service.rules.eventtime import Clocks, CountDelta
from service.rules.models import (
    RuleEngineState,
    RuleLate,
    RuleSeen,
    RuleSnapshot,
    RuleSource,
    RuleStats,
)
from service.rules.timeutil import from_us, to_us

_SEEN = RuleSeen.__table__
_SEEN_LOOKUP = select(_SEEN.c.last_seen_us).where(
    _SEEN.c.rule_id == bindparam("rule_id"), _SEEN.c.key == bindparam("key")
)
# Keys per SELECT: well under both databases' bind-parameter limits.
_CHUNK = 400
# PostgreSQL takes a batch's keys as arrays, one round trip per statement: an IN list
# or an executemany costs a round trip (or a plan) per chunk or row.
# (A join against the array, not `key = ANY(...)`: on a young table with stale statistics
# the planner would scan every key of the rule and compare each with the whole array.)
_PG_SEEN_FETCH = text(
    "SELECT s.key, s.last_seen_us FROM unnest(CAST(:keys AS varchar[])) AS k(key) "
    "JOIN rule_seen s ON s.rule_id = :rule_id AND s.key = k.key"
)
_PG_SEEN_UPSERT = text(
    "INSERT INTO rule_seen (rule_id, key, last_seen_us) "
    "SELECT * FROM unnest(CAST(:rule_ids AS varchar[]), CAST(:keys AS varchar[]), "
    "CAST(:times AS bigint[])) "
    "ON CONFLICT (rule_id, key) DO UPDATE "
    "SET last_seen_us = GREATEST(rule_seen.last_seen_us, EXCLUDED.last_seen_us)"
)


@dataclass(frozen=True, slots=True)
class EngineState:
    cursor: int
    generation: int


def read_state(session: Session) -> EngineState:
    row = session.execute(
        select(RuleEngineState.cursor, RuleEngineState.generation).where(RuleEngineState.id == 1)
    ).one()
    return EngineState(int(row.cursor), int(row.generation))


def lock_state(session: Session) -> EngineState:
    """Take the runner lease for the rest of the transaction.

    An UPDATE as the first statement: SQLite takes its write lock now, PostgreSQL a row
    lock a second runner queues behind (and then reads the cursor the first committed).
    """
    row = session.execute(
        text(
            "UPDATE rule_engine_state SET cursor = cursor WHERE id = 1 RETURNING cursor, generation"
        )
    ).one()
    return EngineState(int(row.cursor), int(row.generation))


def advance_cursor(*, session: Session, cursor: int) -> None:
    session.execute(update(RuleEngineState).where(RuleEngineState.id == 1).values(cursor=cursor))


def bump_generation(*, session: Session) -> int:
    """Ask every runner to reload its rules before its next batch."""
    row = session.execute(
        text(
            "UPDATE rule_engine_state SET generation = generation + 1 WHERE id = 1 "
            "RETURNING generation"
        )
    ).one()
    return int(row.generation)


def _upsert(session: Session, model: Any) -> Any:
    """INSERT ... ON CONFLICT on the model's table, executed on the session's connection
    (Core: the ORM's bulk path adds per-row bookkeeping to statements the runner issues
    every batch)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model.__table__)


class DbSeenStore:
    """SeenStore over `rule_seen`, with a write-back cache.

    Reads go to the cache, then the database; writes stay in the cache until `flush()`,
    which the runner calls once per batch inside the batch transaction. If that
    transaction fails the runner drops this store with its engine, so the cache never
    outlives what the database holds.
    """

    def __init__(self) -> None:
        self.session: Session | None = None
        self._cache: dict[tuple[str, str], datetime | None] = {}
        self._dirty: dict[tuple[str, str], datetime] = {}

    def get_last_seen(self, rule_id: str, key: str) -> datetime | None:
        ck = (rule_id, key)
        if ck not in self._cache:
            assert self.session is not None, "bind a session before processing"
            # Core on the connection with a prebuilt statement: the ORM path costs ~1 ms a
            # lookup, and first-seen rules look up every matching event.
            found = (
                self.session.connection()
                .execute(_SEEN_LOOKUP, {"rule_id": rule_id, "key": key})
                .scalar_one_or_none()
            )
            self._cache[ck] = None if found is None else from_us(int(found))
        return self._cache[ck]

    def prefetch(self, wanted: Mapping[str, Iterable[str]]) -> None:
        """Load the entries for these keys (rule id -> keys) in a few queries, so the
        batch that needs them does not look each one up on its own."""
        assert self.session is not None, "bind a session before processing"
        connection = self.session.connection()
        postgres = connection.dialect.name == "postgresql"
        for rule_id, keys in wanted.items():
            missing = [k for k in keys if (rule_id, k) not in self._cache]
            # PostgreSQL takes them all as one array; SQLite binds each, so in chunks.
            step = max(len(missing), 1) if postgres else _CHUNK
            for start in range(0, len(missing), step):
                chunk = missing[start : start + step]
                stmt = (
                    _PG_SEEN_FETCH.bindparams(rule_id=rule_id, keys=chunk)
                    if postgres
                    else select(_SEEN.c.key, _SEEN.c.last_seen_us).where(
                        _SEEN.c.rule_id == rule_id, _SEEN.c.key.in_(chunk)
                    )
                )
                found: dict[str, int] = dict(connection.execute(stmt).all())
                for key in chunk:
                    at = found.get(key)
                    self._cache[(rule_id, key)] = None if at is None else from_us(int(at))

    def set_last_seen(self, rule_id: str, key: str, seen_at: datetime) -> None:
        ck = (rule_id, key)
        current = self.get_last_seen(rule_id, key)
        if current is None or seen_at > current:
            self._cache[ck] = seen_at
            self._dirty[ck] = seen_at

    def flush(self) -> int:
        """Write the changed entries (keeping the later time on conflict)."""
        if not self._dirty:
            return 0
        assert self.session is not None
        connection = self.session.connection()
        if connection.dialect.name == "postgresql":
            connection.execute(
                _PG_SEEN_UPSERT,
                {
                    "rule_ids": [r for r, _ in self._dirty],
                    "keys": [k for _, k in self._dirty],
                    "times": [to_us(at) for at in self._dirty.values()],
                },
            )
            return self._flushed()
        rows = [
            {"rule_id": r, "key": k, "last_seen_us": to_us(at)}
            for (r, k), at in self._dirty.items()
        ]
        stmt = _upsert(self.session, RuleSeen)
        newer = stmt.excluded.last_seen_us
        stmt = stmt.on_conflict_do_update(
            index_elements=["rule_id", "key"],
            set_={
                "last_seen_us": case(
                    (newer > RuleSeen.last_seen_us, newer), else_=RuleSeen.last_seen_us
                )
            },
        )
        for start in range(0, len(rows), _CHUNK):
            connection.execute(stmt, rows[start : start + _CHUNK])
        return self._flushed()

    def _flushed(self) -> int:
        count = len(self._dirty)
        self._dirty.clear()
        if len(self._cache) > 200_000:  # bounded memory: the table is the source of truth
            self._cache.clear()
        return count

    def prune(self, *, session: Session, horizons: Mapping[str, datetime]) -> int:
        """Forget combinations a rule last saw before its horizon (now - history)."""
        removed = 0
        for rule_id, before in horizons.items():
            result = session.execute(
                delete(RuleSeen).where(
                    RuleSeen.rule_id == rule_id, RuleSeen.last_seen_us < to_us(before)
                )
            )
            removed += int(getattr(result, "rowcount", 0) or 0)
        self._cache = {k: v for k, v in self._cache.items() if k[0] not in horizons}
        return removed


@dataclass(slots=True)
class StatsDelta:
    events_matched: int = 0
    firings: int = 0
    incidents_opened: int = 0
    last_fired_us: int | None = None


def add_stats(*, session: Session, deltas: Mapping[str, StatsDelta]) -> None:
    """Add counter deltas per rule (one upsert statement for every rule that changed)."""
    rows = [
        {
            "rule_id": rule_id,
            "events_matched": d.events_matched,
            "firings": d.firings,
            "incidents_opened": d.incidents_opened,
            "last_fired_us": d.last_fired_us,
        }
        for rule_id, d in deltas.items()
        if d.events_matched or d.firings or d.incidents_opened or d.last_fired_us
    ]
    if not rows:
        return
    stmt = _upsert(session, RuleStats)
    t = RuleStats
    session.connection().execute(
        stmt.on_conflict_do_update(
            index_elements=["rule_id"],
            set_={
                "events_matched": t.events_matched + stmt.excluded.events_matched,
                "firings": t.firings + stmt.excluded.firings,
                "incidents_opened": t.incidents_opened + stmt.excluded.incidents_opened,
                "last_fired_us": case(
                    (stmt.excluded.last_fired_us.is_(None), t.last_fired_us),
                    else_=stmt.excluded.last_fired_us,
                ),
            },
        ),
        rows,
    )


def read_stats(*, session: Session, rule_ids: Iterable[str] | None = None) -> dict[str, RuleStats]:
    stmt = select(RuleStats)
    if rule_ids is not None:
        stmt = stmt.where(RuleStats.rule_id.in_(list(rule_ids)))
    return {s.rule_id: s for s in session.scalars(stmt)}


def save_clocks(*, session: Session, clocks: Clocks, delta: CountDelta) -> None:
    """Upsert the clocks of the sources seen in this batch and add their late counts."""
    rows = []
    for name in delta.events:
        c = clocks.sources[name]
        rows.append(
            {
                "source": name,
                "max_time_us": c.max_t,
                "last_arrival_us": c.last_arrival,
                "lateness_us": c.lateness,
                "events": delta.events[name],
                "late": delta.late.get(name, 0),
                "skewed": delta.skewed.get(name, 0),
            }
        )
    if rows:
        stmt = _upsert(session, RuleSource)
        t, new = RuleSource, stmt.excluded
        session.connection().execute(
            stmt.on_conflict_do_update(
                index_elements=["source"],
                set_={
                    "max_time_us": new.max_time_us,
                    "last_arrival_us": new.last_arrival_us,
                    "lateness_us": new.lateness_us,
                    "events": t.events + new.events,
                    "late": t.late + new.late,
                    "skewed": t.skewed + new.skewed,
                },
            ),
            rows,
        )
    late_rows = [
        {"source": src, "rule_id": rid, "count": n} for (src, rid), n in delta.late_by_rule.items()
    ]
    if late_rows:
        stmt = _upsert(session, RuleLate)
        session.connection().execute(
            stmt.on_conflict_do_update(
                index_elements=["source", "rule_id"],
                set_={"count": RuleLate.count + stmt.excluded.count},
            ),
            late_rows,
        )


def read_snapshot(*, session: Session) -> RuleSnapshot | None:
    return session.get(RuleSnapshot, 1)


def write_snapshot(
    *, session: Session, seq: int, fingerprint: str, body: bytes, at_us: int
) -> None:
    session.execute(
        update(RuleSnapshot)
        .where(RuleSnapshot.id == 1)
        .values(seq=seq, fingerprint=fingerprint, body=body, taken_at_us=at_us)
    )


def write_status(
    *, session: Session, warmup: str | None = None, error: str | None = None, at_us: int = 0
) -> None:
    """Record the runner's warm-up and its last error (None leaves a field as it is)."""
    values: dict[str, Any] = {}
    if warmup is not None:
        values["warmup"] = warmup[:200]
    if error is not None:
        values["last_error"] = error[:2000]
        values["last_error_at_us"] = at_us
    if values:
        session.execute(update(RuleEngineState).where(RuleEngineState.id == 1).values(**values))
