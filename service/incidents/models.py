"""Incident tables. The log holds the authoritative history; these hold the current state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from service.db import Base


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way out on both databases (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class IncidentCounter(Base):
    """One row (id=1): the last allocated incident number. Locking it serializes opens,
    which keeps numbers gapless (a rolled-back open rolls the counter back too)."""

    __tablename__ = "incident_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(BigInteger)


class Incident(Base):
    __tablename__ = "incidents"

    number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str] = mapped_column(String(16))
    # Denormalized rank of `severity` so sorting by severity is an index scan.
    severity_rank: Mapped[int] = mapped_column(SmallInteger)
    status: Mapped[str] = mapped_column(String(24))
    assignee: Mapped[str | None] = mapped_column(String(256))
    rule_id: Mapped[str | None] = mapped_column(String(128))
    rule_hash: Mapped[str | None] = mapped_column(String(64))
    group: Mapped[dict[str, Any]] = mapped_column("group_values", JSON)
    tags: Mapped[list[str]] = mapped_column(JSON)
    category: Mapped[str | None] = mapped_column(String(40), index=True)
    # Traffic Light Protocol 2.0 level for sharing (service.sharing.tlp).
    tlp: Mapped[str] = mapped_column(String(20), default="TLP:AMBER", server_default="TLP:AMBER")
    dedup_key: Mapped[str | None] = mapped_column(String(128))
    # Equal to dedup_key while the incident accepts new firings, NULL otherwise; unique,
    # so two workers can never both open an incident for one firing.
    active_dedup_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    duplicate_of: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("incidents.number"), index=True
    )
    first_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    opened_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    contained_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Evidence anchored at open: the log head seq when the incident opened, and (filled
    # by the evidence domain) a signed checkpoint covering it.
    anchor_seq: Mapped[int] = mapped_column(BigInteger)
    # none_as_null: the evidence domain finds unanchored incidents with IS NULL.
    anchor_checkpoint: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    # SLA clocks: due times from the severity's targets, moved later by every pause
    # (`waiting_since` set while the incident waits on an external party).
    ack_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolve_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    waiting_reason: Mapped[str | None] = mapped_column(String(500))
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ack_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolve_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        # The triage list: filter by status and severity, newest first.
        Index("ix_incidents_status_severity_number", "status", "severity", "number"),
        Index("ix_incidents_status_number", "status", "number"),
        Index("ix_incidents_severity_rank_number", "severity_rank", "number"),
        Index("ix_incidents_updated_at_number", "updated_at", "number"),
        Index("ix_incidents_assignee_number", "assignee", "number"),
        Index("ix_incidents_rule_id_number", "rule_id", "number"),
        Index("ix_incidents_opened_at", "opened_at"),
    )

    @property
    def public_id(self) -> str:
        return f"INC-{self.number}"


class IncidentEvidence(Base):
    """Links an incident to a log record; an event can be evidence of several incidents."""

    __tablename__ = "incident_evidence"

    incident_number: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("incidents.number"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("log_records.seq"), primary_key=True, index=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    added_by: Mapped[str] = mapped_column(String(200))


class TimelineEntry(Base):
    """Every change to an incident, with the seq of the log record that attests it."""

    __tablename__ = "incident_timeline"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_number: Mapped[int] = mapped_column(BigInteger, ForeignKey("incidents.number"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_type: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str] = mapped_column(String(200))
    actor_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
    body: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    log_seq: Mapped[int] = mapped_column(BigInteger, ForeignKey("log_records.seq"))

    __table_args__ = (Index("ix_incident_timeline_incident_number_id", "incident_number", "id"),)


class IncidentEntity(Base):
    """An observable of an incident's evidence (see entities.py), with how many evidence
    events carry it and when they happened."""

    __tablename__ = "incident_entities"

    incident_number: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("incidents.number"), primary_key=True
    )
    type: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(512), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    first_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Pivot: every incident with this entity.
    __table_args__ = (Index("ix_incident_entities_type_value", "type", "value"),)


class IncidentLink(Base):
    """A responder's link between two incidents (stored once per direction)."""

    __tablename__ = "incident_links"

    incident_number: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("incidents.number"), primary_key=True
    )
    other_number: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("incidents.number"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # related | merged_into | merged_from
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))


class RunbookInstance(Base):
    """A rendered runbook pinned to its template's content hash.

    `instance` is the rendered runbook (service.runbooks.schemas.RenderedRunbook) with
    each step's tracking fields (status, done_by, done_at, note, evidence) added; it is
    never re-rendered, so editing the template later does not change it.
    """

    __tablename__ = "incident_runbooks"

    incident_number: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("incidents.number"), primary_key=True, autoincrement=False
    )
    runbook_id: Mapped[str] = mapped_column(String(80), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    attached_at: Mapped[datetime] = mapped_column(UTCDateTime)
    instance: Mapped[dict[str, Any]] = mapped_column(JSON)
