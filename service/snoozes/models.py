"""Table of the snoozes domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base
from service.incidents.models import UTCDateTime

MAX_ATTACHED = 1000  # evidence seqs kept on a snooze; the count goes on beyond it


class Snooze(Base):
    __tablename__ = "snoozes"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_id: Mapped[str] = mapped_column(String(128))
    # Exactly one of: the rule's group values (all must equal), or one entity.
    group: Mapped[dict[str, Any] | None] = mapped_column("group_values", JSON(none_as_null=True))
    entity_type: Mapped[str | None] = mapped_column(String(32))
    entity_value: Mapped[str | None] = mapped_column(String(512))
    until: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_by: Mapped[str | None] = mapped_column(String(200))
    expired_seq: Mapped[int | None] = mapped_column(BigInteger)
    suppressed: Mapped[int] = mapped_column(Integer, default=0)
    last_suppressed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    seqs: Mapped[list[int]] = mapped_column(JSON, default=list)

    # The firing path looks up the active snoozes of one rule.
    __table_args__ = (Index("ix_snoozes_rule_id_released_at", "rule_id", "released_at"),)

    @property
    def public_id(self) -> str:
        return f"SNZ-{self.number}"
