"""Snooze shapes for the API and the CLI."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.auditlog.schemas import Timestamp
from service.snoozes.models import Snooze


class SnoozeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: Annotated[str, Field(min_length=1, max_length=128, description="rule id or name")]
    group: dict[str, Annotated[str, Field(max_length=512)]] | None = Field(
        default=None, description="the rule's group-by values to silence, all equal"
    )
    entity: Annotated[str, Field(max_length=600)] | None = Field(
        default=None, description="TYPE:VALUE: silence firings whose evidence carries it"
    )
    until: Timestamp
    reason: Annotated[str, Field(min_length=3, max_length=2000)]

    @model_validator(mode="after")
    def _one_target(self) -> SnoozeCreate:
        if (self.group is None) == (self.entity is None):
            raise ValueError("give exactly one of group or entity")
        return self


class SnoozeRelease(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, Field(min_length=3, max_length=2000)]


class SnoozeOut(BaseModel):
    id: str
    rule_id: str
    group: dict[str, Any] | None
    entity: str | None
    until: datetime
    reason: str
    created_at: datetime
    created_by: str
    released_at: datetime | None
    released_by: str | None
    active: bool
    suppressed: int = Field(description="firings silenced so far")
    last_suppressed_at: datetime | None
    seqs: list[int] = Field(description="evidence of the silenced firings (first 1000)")


class SnoozePage(BaseModel):
    items: list[SnoozeOut]
    next_cursor: str | None


def snooze_out(snooze: Snooze, *, now: datetime) -> SnoozeOut:
    entity = f"{snooze.entity_type}:{snooze.entity_value}" if snooze.entity_type else None
    return SnoozeOut(
        id=snooze.public_id,
        rule_id=snooze.rule_id,
        group=snooze.group,
        entity=entity,
        until=snooze.until,
        reason=snooze.reason,
        created_at=snooze.created_at,
        created_by=snooze.created_by,
        released_at=snooze.released_at,
        released_by=snooze.released_by,
        active=snooze.released_at is None and snooze.until > now,
        suppressed=snooze.suppressed,
        last_suppressed_at=snooze.last_suppressed_at,
        seqs=list(snooze.seqs or []),
    )
