"""Partitions of the log on PostgreSQL: ranges of seq, made ahead of the head.

`log_records` and `log_payloads` are partitioned by seq range (migration 0025), and an
insert whose seq has no partition fails. The `log-partitions` worker task keeps a spare
partition ahead of the head; the append path checks too, as a fallback, when the head
comes within a margin of the last bound. The runtime role has no DDL rights: both go
through `custody_ensure_log_partitions` (SECURITY DEFINER). SQLite is not partitioned.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

# Per DB-API connection: the last bound read from committed state. Bounds only grow
# (archival drops old partitions, never the newest), so a stale value only costs a read.
_CACHE_KEY = "custody_log_partition_bound"


@dataclass(frozen=True, slots=True)
class Bound:
    end_seq: int  # first seq with no partition
    size: int  # of the newest partition

    @property
    def margin(self) -> int:
        """How close the head may come to the bound before the append path makes room:
        a quarter partition, at most one full request of events."""
        return max(1, min(10_000, self.size // 4))

    def room_for(self, last_seq: int) -> bool:
        return last_seq < self.end_seq - self.margin


def is_partitioned(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def read_bound(session: Session) -> Bound | None:
    row = session.execute(
        text(
            "SELECT end_seq, end_seq - first_seq AS size FROM log_partitions "
            "ORDER BY end_seq DESC LIMIT 1"
        )
    ).first()
    return None if row is None else Bound(int(row.end_seq), int(row.size))


def ensure(session: Session, *, through: int, size: int | None = None) -> int:
    """Create partitions until seq `through` has one; return how many were made."""
    made = session.execute(
        text("SELECT custody_ensure_log_partitions(:through, :size)"),
        {"through": through, "size": size},
    ).scalar_one()
    return int(made)


def make_room(session: Session, last_seq: int) -> None:
    """Before inserting records up to `last_seq`: make partitions if the head is within
    the margin of the last bound (the worker task normally did already)."""
    if not is_partitioned(session):
        return
    info = session.connection().info
    cached: Bound | None = info.get(_CACHE_KEY)
    if cached is not None and cached.room_for(last_seq):
        return
    bound = read_bound(session)
    if bound is not None and bound.room_for(last_seq):
        info[_CACHE_KEY] = bound
        return
    margin = bound.margin if bound is not None else 1
    ensure(session, through=last_seq + margin)
    # Not cached: made in this transaction, which may still roll back.
    info.pop(_CACHE_KEY, None)
