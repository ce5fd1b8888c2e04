"""Shapes of the holds API."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from service.auditlog.schemas import Timestamp

Reason = Annotated[str, Field(min_length=3, max_length=2000)]


class HoldStatus(enum.StrEnum):
    active = "active"
    released = "released"


class ResourceRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Annotated[str, Field(min_length=1, max_length=512)]
    id: Annotated[str, Field(min_length=1, max_length=512)]


class HoldCreate(BaseModel):
    """What to hold: every criterion given must match an event (at least one)."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason
    incident: Annotated[str | None, Field(pattern=r"^INC-[1-9][0-9]{0,17}$")] = None
    actor: Annotated[str | None, Field(min_length=1, max_length=512, description="actor.id")] = None
    resource: ResourceRef | None = None
    since: Annotated[Timestamp | None, Field(description="event time >= since")] = None
    until: Annotated[Timestamp | None, Field(description="event time < until")] = None

    @field_validator("since", "until")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        # Compared with the log's UTC times; a time that has no UTC form is refused here.
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("out of range in UTC") from None

    @model_validator(mode="after")
    def _criteria(self) -> HoldCreate:
        if not any((self.incident, self.actor, self.resource, self.since, self.until)):
            raise ValueError("a hold needs at least one of incident, actor, resource, since, until")
        if self.since and self.until and self.since >= self.until:
            raise ValueError("since must be before until")
        return self


class HoldRelease(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class HoldOut(BaseModel):
    id: str = Field(description="HOLD-<n>")
    status: HoldStatus
    reason: str
    incident: str | None
    actor: str | None
    resource: dict[str, str] | None
    since: str | None
    until: str | None
    created_at: datetime
    created_by: str
    create_seq: int = Field(description="seq of the hold.create log record")
    released_at: datetime | None
    released_by: str | None
    release_reason: str | None
    release_seq: int | None = Field(description="seq of the hold.release log record")


class HoldPage(BaseModel):
    items: list[HoldOut]
    next_cursor: str | None


def criteria(hold: Any) -> dict[str, Any]:
    """A hold's criteria as JSON (what the hold.create record carries)."""
    resource = None
    if hold.resource_type is not None:
        resource = {"type": hold.resource_type, "id": hold.resource_id}
    incident = None if hold.incident_number is None else f"INC-{hold.incident_number}"
    return {
        "incident": incident,
        "actor": hold.actor_id,
        "resource": resource,
        "since": hold.since,
        "until": hold.until,
    }


def hold_out(hold: Any) -> HoldOut:
    return HoldOut(
        id=hold.public_id,
        status=HoldStatus.released if hold.released_at else HoldStatus.active,
        reason=hold.reason,
        **criteria(hold),
        created_at=hold.created_at,
        created_by=hold.created_by,
        create_seq=hold.create_seq,
        released_at=hold.released_at,
        released_by=hold.released_by,
        release_reason=hold.release_reason,
        release_seq=hold.release_seq,
    )
