"""Where archived seqs went: the `log.archive` records of the log itself.

`custody archive` moves whole partitions of the log into signed evidence bundles and
appends one server-origin `log.archive` record per partition (range, last hash, bundle
file and its SHA-256). Reading these records, not a side table, is what lets
verification and replay start at the first live record: its `prev_hash` must equal the
last archived hash the chained, checkpointed archive record names.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auditlog.errors import EventArchived
from service.auditlog.models import LogPayload, LogRecord
from service.auditlog.trust import server_origin

ARCHIVE_ACTION = "log.archive"


@dataclass(frozen=True, slots=True)
class ArchivedRange:
    first_seq: int
    last_seq: int
    last_hash: str
    partition: str
    bundle: str
    bundle_sha256: str
    record_seq: int  # the log.archive record


def archived_ranges(session: Session) -> list[ArchivedRange]:
    """Archived ranges in seq order (archival goes oldest first, without holes)."""
    rows = session.execute(
        select(LogRecord.seq, LogPayload.body)
        .join(LogPayload, LogPayload.seq == LogRecord.seq)
        .where(server_origin(), LogRecord.action == ARCHIVE_ACTION)
        .order_by(LogRecord.seq)
    )
    out = []
    for seq, body in rows:
        a = orjson.loads(body)["attributes"]
        out.append(
            ArchivedRange(
                first_seq=int(a["first_seq"]),
                last_seq=int(a["last_seq"]),
                last_hash=str(a["last_hash"]),
                partition=str(a["partition"]),
                bundle=str(a["bundle"]),
                bundle_sha256=str(a["bundle_sha256"]),
                record_seq=int(seq),
            )
        )
    return sorted(out, key=lambda r: r.first_seq)


def live_start(ranges: list[ArchivedRange]) -> tuple[int, str] | None:
    """(first live seq, the hash its prev_hash must equal), or None if nothing was archived."""
    if not ranges:
        return None
    last = max(ranges, key=lambda r: r.last_seq)
    return last.last_seq + 1, last.last_hash


def raise_if_archived(session: Session, seq: int) -> None:
    """410 naming the bundle when `seq` was archived."""
    for r in archived_ranges(session):
        if r.first_seq <= seq <= r.last_seq:
            raise EventArchived(
                f"seq {seq} was archived to the evidence bundle {r.bundle} (sha256 "
                f"{r.bundle_sha256}), partition {r.partition}, by log.archive record seq "
                f"{r.record_seq}; verify and replay it offline from that bundle",
                archive={
                    "bundle": r.bundle,
                    "bundle_sha256": r.bundle_sha256,
                    "partition": r.partition,
                    "first_seq": r.first_seq,
                    "last_seq": r.last_seq,
                    "record_seq": r.record_seq,
                },
            )
