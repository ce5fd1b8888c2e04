"""Shapes of the search API."""

from __future__ import annotations

from pydantic import BaseModel, Field

from service.auditlog.schemas import EventOut


class SearchPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None
    indexed_through: int = Field(
        description="last log seq the search index holds; newer events may be missing"
    )
