"""Improvement shapes for the API."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from service.improvements.models import Improvement


class Kind(enum.StrEnum):
    rule = "rule"  # a new or changed detection rule
    runbook = "runbook"  # a runbook change
    control_gap = "control_gap"  # a missing or weak control


class Status(enum.StrEnum):
    open = "open"
    done = "done"
    declined = "declined"


class ImprovementCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Kind
    title: Annotated[str, Field(min_length=3, max_length=300)]
    detail: Annotated[str, Field(max_length=20_000)] = ""


class Closing(enum.StrEnum):
    done = "done"
    declined = "declined"


class ImprovementClose(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Closing
    note: Annotated[str, Field(min_length=3, max_length=20_000)]


class ImprovementOut(BaseModel):
    id: str
    incident: str
    kind: Kind
    title: str
    detail: str
    status: Status
    created_at: datetime
    created_by: str
    closed_at: datetime | None
    closed_by: str | None
    close_note: str | None


class ImprovementPage(BaseModel):
    items: list[ImprovementOut]
    next_cursor: str | None


def improvement_out(item: Improvement) -> ImprovementOut:
    return ImprovementOut(
        id=item.public_id,
        incident=f"INC-{item.incident_number}",
        kind=Kind(item.kind),
        title=item.title,
        detail=item.detail,
        status=Status(item.status),
        created_at=item.created_at,
        created_by=item.created_by,
        closed_at=item.closed_at,
        closed_by=item.closed_by,
        close_note=item.close_note,
    )
