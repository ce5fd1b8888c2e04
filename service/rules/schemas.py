"""HTTP shapes of the rules API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.auditlog.schemas import Timestamp


class RuleCounters(BaseModel):
    events_matched: int = Field(description="detection: events matched; correlation: times it held")
    firings: int
    incidents_opened: int
    last_fired: datetime | None


class RuleError(BaseModel):
    file: str
    field: str | None
    rule: str | None
    message: str
    unsupported: str | None = Field(
        default=None,
        description="valid Sigma Custody cannot run: logsource, field, modifier, keyword, "
        "condition, document, deprecated or status; null when the rule itself is invalid",
    )


class RuleOut(BaseModel):
    id: str
    name: str | None
    title: str
    severity: str
    tags: list[str]
    runbook: str | None
    kind: str = Field(
        description="detection, first_seen, not_preceded_by, exceeds_previous or the "
        "correlation type"
    )
    emits: bool = Field(description="false for base rules only used by a correlation")
    file: str
    content_hash: str
    counters: RuleCounters
    vendor_source: str | None = Field(
        default=None,
        description="vendor-logsource rules (SigmaHQ's): the event source whose original "
        "records they read; null for Custody event paths",
    )


class RuleDetail(RuleOut):
    description: str
    dedup: list[str]
    references: list[str] = Field(description="rule ids a correlation reads")
    group_by: list[str]
    timespan_seconds: float | None
    first_seen: dict[str, Any] | None
    document: dict[str, Any] = Field(description="the rule's YAML document")


class RulePage(BaseModel):
    items: list[RuleOut]
    next_cursor: str | None = None
    errors: list[RuleError] = Field(description="rule files that failed to load")
    loaded_at: datetime


class ReloadOut(BaseModel):
    rules: int
    errors: list[RuleError]
    generation: int = Field(description="runners reload when they see a new generation")


class BacktestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: Annotated[
        str | list[str] | None,
        Field(
            description="candidate rule files as YAML text (one string per file); "
            "absent: the deployed rules"
        ),
    ] = None
    since: Timestamp | None = Field(default=None, description="event time >= since")
    until: Timestamp | None = Field(default=None, description="event time < until")
    from_seq: int | None = Field(default=None, ge=1)
    to_seq: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> BacktestIn:
        if self.since and self.until and self.since >= self.until:
            raise ValueError("since must be before until")
        if self.from_seq and self.to_seq and self.from_seq > self.to_seq:
            raise ValueError("from_seq must not exceed to_seq")
        return self


class WouldOpen(BaseModel):
    """An incident the live engine would have opened (or kept extending)."""

    rule_id: str
    rule_hash: str
    title: str
    severity: str
    tags: list[str]
    runbook_id: str | None
    group: dict[str, Any]
    dedup_key: str
    evidence_seqs: list[int]
    event_count: int
    first_seen: datetime
    last_seen: datetime


class BacktestOut(BaseModel):
    incidents: list[WouldOpen]
    rules: int
    errors: list[RuleError]
    events: int
    firings: int
    first_seq: int | None
    last_seq: int | None
    truncated: bool = Field(description="stopped at the event cap; narrow the range")


class SourceStatus(BaseModel):
    source: str
    state: str = Field(description="active, or idle: no arrival for the idle timeout")
    watermark: datetime | None = Field(description="newest event time minus allowed lateness")
    newest_event_time: datetime | None
    last_arrival: datetime | None
    lateness_seconds: float
    events: int
    late: int = Field(description="events kept out of correlation windows for being late")
    skewed: int = Field(description="events dated beyond received_at + tolerance (clock_skew)")


class LateCount(BaseModel):
    source: str
    rule_id: str
    rule: str | None = Field(description="title of the rule, if still loaded")
    count: int


class RulesStatus(BaseModel):
    cursor: int = Field(description="last log seq the engine has committed")
    head: int = Field(description="seq of the log head")
    lag_events: int
    lag_seconds: float = Field(description="arrival time between the cursor and the head")
    warmup: str | None = Field(description="how the engine last started (snapshot or replay)")
    snapshot_seq: int | None
    snapshot_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    lateness_seconds: float
    source_lateness_seconds: dict[str, float]
    idle_timeout_seconds: float
    clock_skew_seconds: float
    clock_skew: int = Field(description="events, all sources, correlated at received_at")
    late: int = Field(description="late events, all sources")
    sources: list[SourceStatus]
    late_by_rule: list[LateCount]
