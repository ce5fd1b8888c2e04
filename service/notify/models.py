"""Outbox rows (one per notifiable incident change) and a delivery cursor per target."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base
from service.incidents.models import UTCDateTime


class OutboxRow(Base):
    __tablename__ = "notify_outbox"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    type: Mapped[str] = mapped_column(String(64))
    incident_number: Mapped[int] = mapped_column(BigInteger, index=True)
    severity: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class TargetCursor(Base):
    """How far one target got: every outbox id <= `last_id` was delivered, filtered out,
    or given up on (and that outcome is in the log)."""

    __tablename__ = "notify_cursors"

    target: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered: Mapped[int] = mapped_column(BigInteger, default=0)
    failed: Mapped[int] = mapped_column(BigInteger, default=0)
