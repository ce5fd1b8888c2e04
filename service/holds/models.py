"""Table of the holds domain. Creating and releasing a hold is also a log record."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base
from service.incidents.models import UTCDateTime


class LegalHold(Base):
    """One hold. Unset criteria match everything; set ones must all match an event.
    `since`/`until` are event times in the log's fixed-width text form, so they compare
    with `log_records.time` as text."""

    __tablename__ = "legal_holds"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reason: Mapped[str] = mapped_column(Text)
    incident_number: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("incidents.number")
    )
    actor_id: Mapped[str | None] = mapped_column(String(512))
    resource_type: Mapped[str | None] = mapped_column(String(512))
    resource_id: Mapped[str | None] = mapped_column(String(512))
    since: Mapped[str | None] = mapped_column(String(32))
    until: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    create_seq: Mapped[int] = mapped_column(BigInteger)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_by: Mapped[str | None] = mapped_column(String(200))
    release_reason: Mapped[str | None] = mapped_column(Text)
    release_seq: Mapped[int | None] = mapped_column(BigInteger)

    # Erasure looks up the active holds (released_at IS NULL); lists page by number.
    __table_args__ = (Index("ix_legal_holds_released_at_number", "released_at", "number"),)

    @property
    def public_id(self) -> str:
        return f"HOLD-{self.number}"
