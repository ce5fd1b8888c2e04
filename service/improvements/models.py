"""The improvements table; every change to an item is also an incident log record."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base
from service.incidents.models import UTCDateTime


class Improvement(Base):
    __tablename__ = "improvements"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_number: Mapped[int] = mapped_column(BigInteger, ForeignKey("incidents.number"))
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(300))
    detail: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(200))
    close_note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_improvements_status_number", "status", "number"),
        Index("ix_improvements_incident_number", "incident_number"),
    )

    @property
    def public_id(self) -> str:
        return f"IMP-{self.number}"
