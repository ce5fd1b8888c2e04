"""Tables of the rules engine runner: its cursor/lease row, first-seen memory, counters."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base


class RuleEngineState(Base):
    """One row (id=1). Every runner batch locks it first, so two workers never process
    the same events; `cursor` is the last log seq whose firings are committed."""

    __tablename__ = "rule_engine_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    cursor: Mapped[int] = mapped_column(BigInteger)
    # Bumped by POST /v1/rules/reload; a runner seeing a new value reloads the rules dir.
    generation: Mapped[int] = mapped_column(BigInteger)
    # What the runner last reported about itself (rules status).
    warmup: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(String(2000))
    last_error_at_us: Mapped[int | None] = mapped_column(BigInteger)


class RuleSeen(Base):
    """First-seen memory: when a rule last saw a value combination (key: JSON array)."""

    __tablename__ = "rule_seen"

    rule_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(2048), primary_key=True)
    # Event time in microseconds since the epoch: exact, and max() works on both databases.
    last_seen_us: Mapped[int] = mapped_column(BigInteger, index=True)


class RuleStats(Base):
    """Per-rule counters of the live engine (never touched by backtests)."""

    __tablename__ = "rule_stats"

    rule_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    events_matched: Mapped[int] = mapped_column(BigInteger, default=0)
    firings: Mapped[int] = mapped_column(BigInteger, default=0)
    incidents_opened: Mapped[int] = mapped_column(BigInteger, default=0)
    # Wall-clock microseconds of the last firing the runner committed.
    last_fired_us: Mapped[int | None] = mapped_column(BigInteger)


class RuleSource(Base):
    """Event time per source as the live engine last committed it (rules status)."""

    __tablename__ = "rule_sources"

    source: Mapped[str] = mapped_column(String(128), primary_key=True)
    # Microseconds since the epoch: newest (effective) event time, newest arrival.
    max_time_us: Mapped[int | None] = mapped_column(BigInteger)
    last_arrival_us: Mapped[int | None] = mapped_column(BigInteger)
    lateness_us: Mapped[int] = mapped_column(BigInteger, default=0)
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    late: Mapped[int] = mapped_column(BigInteger, default=0)
    skewed: Mapped[int] = mapped_column(BigInteger, default=0)


class RuleLate(Base):
    """Events kept out of a correlation rule's windows for being late, per source."""

    __tablename__ = "rule_late"

    source: Mapped[str] = mapped_column(String(128), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class RuleSnapshot(Base):
    """One row (id=1): the engine's in-memory state at `seq`, so a restart warms only the
    events after it. `fingerprint` names the rules and event-time settings it was built
    with; any change makes it unusable (the runner then replays the log)."""

    __tablename__ = "rule_snapshot"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    fingerprint: Mapped[str] = mapped_column(String(64))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    taken_at_us: Mapped[int | None] = mapped_column(BigInteger)
