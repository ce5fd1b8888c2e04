"""The runbook instance attached to an incident (one row per incident, replaced on swap)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base
from service.incidents.models import UTCDateTime


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
