"""Worker task `log-partitions` (PostgreSQL): keep a spare partition ahead of the head,
so that appends never have to make one (they still can, as a fallback)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from service.auditlog.chain import read_head
from service.auditlog.partitions import ensure
from service.config import Settings
from service.worker import PeriodicTask


class PartitionTask(PeriodicTask):
    name = "log-partitions"

    def __init__(self, size: int, every: float = 60.0) -> None:
        super().__init__(every=every)
        self.size = size

    def step(self, session: Session, now: datetime) -> int:
        head = read_head(session)[0]
        return ensure(session, through=head + self.size, size=self.size)


def build(settings: Settings) -> PartitionTask | None:
    return None if settings.is_sqlite else PartitionTask(settings.log_partition_size)
