"""Incident shapes for the API and CLI: incident, comment, list pages."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from service.auditlog.schemas import MAX_SEQ
from service.runbooks.schemas import Severity
from service.sharing.tlp import Tlp
from service.taxonomy import Category

__all__ = ["Severity", "Status"]

Tag = Annotated[str, Field(min_length=1, max_length=128)]
# Seqs within I-JSON's exact integers: a larger number cannot come from this log, and
# JSON clients (and generators) round it.
Seq = Annotated[int, Field(ge=1, le=min(MAX_SEQ, 2**53 - 1))]


class Status(enum.StrEnum):
    open = "open"
    acknowledged = "acknowledged"
    contained = "contained"
    resolved = "resolved"
    closed = "closed"
    false_positive = "false_positive"
    duplicate = "duplicate"


class SortKey(enum.StrEnum):
    opened = "opened"
    updated = "updated"
    severity = "severity"


class IncidentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, Field(min_length=1, max_length=300)]
    description: Annotated[str, Field(max_length=20_000)] = ""
    severity: Severity = Severity.MEDIUM
    assignee: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    tags: Annotated[list[Tag], Field(max_length=50)] = []
    category: Category | None = None
    tlp: Tlp = Tlp.amber
    evidence: Annotated[list[Seq], Field(max_length=10_000)] = []
    runbook_id: Annotated[str, Field(max_length=80)] | None = None


class IncidentPatch(BaseModel):
    """Fields a responder may change; absent fields stay, `assignee: null` unassigns."""

    model_config = ConfigDict(extra="forbid")

    status: Status | None = None
    duplicate_of: Annotated[str, Field(max_length=32)] | None = None
    severity: Severity | None = None
    assignee: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    title: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    description: Annotated[str, Field(max_length=20_000)] | None = None
    tags: Annotated[list[Tag], Field(max_length=50)] | None = None
    category: Category | None = Field(default=None, description="the AI incident category")
    tlp: Tlp | None = Field(default=None, description="sharing level; TLP:RED blocks export")
    waiting: Annotated[str, Field(min_length=1, max_length=500)] | None = Field(
        default=None,
        description="Why the incident waits on an external party; pauses the SLA clocks. "
        "`null` resumes them.",
    )


class Sla(BaseModel):
    acknowledge_due: datetime | None
    resolve_due: datetime | None
    acknowledge_breached_at: datetime | None
    resolve_breached_at: datetime | None
    waiting_reason: str | None
    waiting_since: datetime | None
    overdue: list[str] = Field(description="clocks that have run out: acknowledge, resolve")


class EntityOut(BaseModel):
    type: str
    value: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None


class SharedEntity(BaseModel):
    type: str
    value: str


class RelatedOut(BaseModel):
    id: str
    title: str
    status: str
    severity: str
    link: str | None = Field(description="related | merged_into | merged_from, if linked")
    shared: list[SharedEntity]


class IncidentOut(BaseModel):
    id: str
    title: str
    description: str
    severity: Severity
    status: Status
    assignee: str | None
    rule_id: str | None
    group: dict[str, Any]
    tags: list[str]
    category: Category | None
    tlp: Tlp
    dedup_key: str | None
    duplicate_of: str | None
    first_seen: datetime | None
    last_seen: datetime | None
    event_count: int
    opened_at: datetime
    opened_by: str
    updated_at: datetime
    acknowledged_at: datetime | None
    contained_at: datetime | None
    resolved_at: datetime | None
    time_to_acknowledge: float | None = Field(description="seconds from open to acknowledged")
    time_to_resolve: float | None = Field(description="seconds from open to resolved")
    runbook_id: str | None
    anchor_seq: int
    anchor_checkpoint: dict[str, Any] | None
    allowed_transitions: list[str]
    version: int
    sla: Sla | None = None
    entities: list[EntityOut] | None = Field(
        default=None, description="observables of the evidence (incident detail only)"
    )
    related: list[RelatedOut] | None = Field(
        default=None, description="incidents sharing an entity or linked (detail only)"
    )


class IncidentPage(BaseModel):
    items: list[IncidentOut]
    next_cursor: str | None


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: Annotated[str, Field(min_length=1, max_length=20_000)]


class EvidenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seqs: Annotated[list[Seq], Field(min_length=1, max_length=10_000)]


class Actor(BaseModel):
    type: str
    id: str
    name: str


class TimelineOut(BaseModel):
    id: int
    at: datetime
    actor: Actor
    kind: str
    changes: dict[str, Any] = Field(description="field -> {from, to}")
    body: str | None
    details: dict[str, Any]
    log_seq: int


class TimelinePage(BaseModel):
    items: list[TimelineOut]
    next_cursor: str | None


class EvidenceOut(BaseModel):
    seq: int
    time: str
    source: str
    action: str
    outcome: str
    actor: dict[str, str] | None
    resource: dict[str, str] | None
    request_id: str | None
    attributes: dict[str, Any] | None
    payload_digest: str
    prev_hash: str
    hash: str
    erased: bool
    via: str = Field(description="the incident that holds this evidence (a duplicate's id)")


class EvidencePage(BaseModel):
    items: list[EvidenceOut]
    next_cursor: str | None


class EvidenceAdded(BaseModel):
    added: list[int]
    already: list[int]
    incident: IncidentOut


class Durations(BaseModel):
    count: int
    median: float | None
    p90: float | None


class IncidentStats(BaseModel):
    total: int
    by_status: dict[str, int]
    by_severity: dict[str, int]
    time_to_acknowledge: Durations
    time_to_resolve: Durations


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    incident: Annotated[str, Field(max_length=32, description="the other incident, e.g. INC-9")]


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    into: Annotated[str, Field(max_length=32, description="the incident that absorbs this one")]


class EntityIncident(BaseModel):
    id: str
    title: str
    status: str
    severity: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None


class EntityReport(BaseModel):
    type: str
    value: str
    first_seen: datetime | None
    last_seen: datetime | None
    evidence_events: int = Field(description="evidence events carrying it, over its incidents")
    incident_count: int
    incidents: list[EntityIncident]
