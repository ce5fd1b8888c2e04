"""Tables of the log. `log_records` is append-only: database triggers refuse UPDATE/DELETE."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base


class LogRecord(Base):
    """One chained record. Columns hold exactly the fields that are hashed (see
    service.logformat.record); `v` is the record's format version, `origin` (v2) who
    submitted it: "server" or an ingest token id."""

    __tablename__ = "log_records"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    received_at: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str | None] = mapped_column(String(256))
    # Fixed-width UTC text (YYYY-MM-DDTHH:MM:SS.ffffffZ): sorts chronologically as text on
    # both databases and is hashed exactly as stored.
    time: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(16))
    actor_type: Mapped[str | None] = mapped_column(String(512))
    actor_id: Mapped[str | None] = mapped_column(String(512))
    actor_ip: Mapped[str | None] = mapped_column(String(128))
    actor_user_agent: Mapped[str | None] = mapped_column(String(1024))
    resource_type: Mapped[str | None] = mapped_column(String(512))
    resource_id: Mapped[str | None] = mapped_column(String(512))
    resource_version: Mapped[str | None] = mapped_column(String(512))
    request_id: Mapped[str | None] = mapped_column(String(256))
    payload_digest: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    v: Mapped[int] = mapped_column(SmallInteger, server_default="1")
    origin: Mapped[str | None] = mapped_column(String(64))
    # Not hashed: lets a retried event be recognised as identical without the payload.
    content_hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        # SQLite only: on PostgreSQL the table is partitioned by seq, where a unique
        # constraint must include seq; `log_event_ids` is what ingest checks on both.
        UniqueConstraint("source", "event_id"),
        Index("ix_log_records_actor_seq", "actor_id", "seq"),
        Index("ix_log_records_resource_seq", "resource_type", "resource_id", "seq"),
        Index("ix_log_records_action_seq", "action", "seq"),
        Index("ix_log_records_time", "time"),
        # One agent run: OTLP puts the trace id in request_id (causal replay).
        Index("ix_log_records_request_seq", "request_id", "seq"),
    )


class LogEventId(Base):
    """Idempotency keys: (source, id) of every event that had an id, and what it was.

    Written in the append's transaction; outlives archival of the record, so a resend of
    an archived event is still recognised."""

    __tablename__ = "log_event_ids"

    source: Mapped[str] = mapped_column(String(128), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    content_hash: Mapped[str] = mapped_column(String(64))


class LogPartition(Base):
    """A seq range [first_seq, end_seq) of the log: one partition of `log_records` and
    `log_payloads` each on PostgreSQL (empty on SQLite, which is not partitioned), and,
    once archived, the bundle that holds it and the `log.archive` record that says so."""

    __tablename__ = "log_partitions"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    first_seq: Mapped[int] = mapped_column(BigInteger)
    end_seq: Mapped[int] = mapped_column(BigInteger, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    archive_seq: Mapped[int | None] = mapped_column(BigInteger)
    bundle: Mapped[str | None] = mapped_column(String(500))
    bundle_sha256: Mapped[str | None] = mapped_column(String(64))


class LogPayload(Base):
    """The erasable part of a record (attributes, raw) with its salt.

    The record carries SHA-256(salt || body) only, so deleting this row (erasure) keeps
    the chain valid while making the content unrecoverable.
    """

    __tablename__ = "log_payloads"

    seq: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("log_records.seq"), primary_key=True, autoincrement=False
    )
    salt: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)


class LogHead(Base):
    """A single row (id=1) holding the chain head; locking it serializes appends."""

    __tablename__ = "log_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
