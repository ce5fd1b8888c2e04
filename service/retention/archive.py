"""`custody archive`: move whole old partitions of the log into signed evidence bundles.

Per partition, oldest first and without holes: write an evidence bundle of all its
records (each with an inclusion proof against the latest signed checkpoint, plus a
consistency proof from the first checkpoint that covered them), verify the written file
offline with the code `custody verify-bundle` runs, check it is the whole partition and
links to the live chain, and only then, in one transaction, append the `log.archive`
record, mark the partition archived, and detach and drop its two tables. Any failure
before that commit drops nothing; a bundle file may be left, and is harmless.

PostgreSQL only (SQLite is not partitioned), and as the owner role: the runtime role
cannot detach or drop a table.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from service.auditlog.archived import ARCHIVE_ACTION, archived_ranges, live_start
from service.auditlog.chain import lock_head, read_head, record_internal
from service.auditlog.models import LogPartition, LogRecord
from service.db import session_scope
from service.evidence import witness
from service.evidence.bundle import verify_bundle, write_bundle
from service.evidence.bundle_format import RECORDS
from service.evidence.checkpoints import Signer, latest, to_checkpoint
from service.evidence.exports import records_with_proofs
from service.evidence.keys import key_fingerprint, public_key_pem
from service.evidence.merkle import consistency_proof
from service.evidence.models import CheckpointRow
from service.evidence.schemas import Scope
from service.evidence.signing import Checkpoint
from service.evidence.store import SqlNodeStore
from service.holds.service import held_in_range
from service.logformat import GENESIS_PREV_HASH, format_time
from service.logging import get_logger

log = get_logger(__name__)


class ArchiveRefused(Exception):
    """Nothing was dropped; the message says why (one line)."""


@dataclass(frozen=True, slots=True)
class Candidate:
    name: str
    first_seq: int
    end_seq: int  # exclusive

    @property
    def last_seq(self) -> int:
        return self.end_seq - 1

    @property
    def payload_table(self) -> str:
        return self.name.replace("log_records_", "log_payloads_", 1)


@dataclass(frozen=True, slots=True)
class Archived:
    partition: str
    first_seq: int
    last_seq: int
    bundle: Path
    sha256: str
    record_seq: int


def plan(*, session: Session, before: datetime) -> tuple[list[Candidate], str | None]:
    """Partitions to archive, oldest first, and why the next one is kept (None: no more).

    A partition qualifies when it lies wholly below the head, a signed checkpoint covers
    it, and every record in it was received before ``before``. Archival stops at the
    first one that does not, so the archived ranges stay a prefix of the log."""
    if session.get_bind().dialect.name != "postgresql":
        raise ArchiveRefused(
            "archival needs PostgreSQL: the log is partitioned there only (SQLite keeps "
            "its records; `custody export` writes bundles of any range)"
        )
    head_seq = read_head(session)[0]
    checkpoint = latest(session=session)
    signed = checkpoint.tree_size if checkpoint is not None else 0
    cutoff = format_time(before)
    rows = session.execute(
        select(LogPartition.name, LogPartition.first_seq, LogPartition.end_seq)
        .where(LogPartition.archived_at.is_(None))
        .order_by(LogPartition.first_seq)
    ).all()
    chosen: list[Candidate] = []
    for row in rows:
        part = Candidate(row.name, int(row.first_seq), int(row.end_seq))
        if part.first_seq > head_seq:
            return chosen, None  # partitions made ahead: empty
        if head_seq <= part.last_seq:
            return chosen, f"{part.name} holds the head of the log (seq {head_seq})"
        if signed < part.last_seq:
            return chosen, (
                f"{part.name}: seqs up to {part.last_seq} are not all covered by a signed "
                f"checkpoint yet (latest tree size {signed})"
            )
        newest = session.execute(
            select(func.max(LogRecord.received_at)).where(
                LogRecord.seq >= part.first_seq, LogRecord.seq < part.end_seq
            )
        ).scalar_one()
        if newest is not None and newest >= cutoff:
            return chosen, f"{part.name} holds records received {newest}, not before {cutoff}"
        # Held records stay online: investigators and erasure checks read them there.
        held = held_in_range(session=session, first_seq=part.first_seq, last_seq=part.last_seq)
        if held is not None:
            return chosen, f"{part.name} holds records that are {held.why}"
        chosen.append(part)
    return chosen, None


def archive(
    *, factory: sessionmaker[Session], before: datetime, directory: Path, signer: Signer
) -> tuple[list[Archived], str | None]:
    """Archive every qualifying partition; return them and why the next one was kept."""
    with session_scope(factory) as session:
        chosen, kept = plan(session=session, before=before)
    done = [
        archive_partition(factory=factory, part=p, directory=directory, signer=signer)
        for p in chosen
    ]
    return done, kept


def archive_partition(
    *, factory: sessionmaker[Session], part: Candidate, directory: Path, signer: Signer
) -> Archived:
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"{part.name}.zip"
    partial = directory / f".{part.name}.zip.partial"
    if final.exists():
        raise ArchiveRefused(f"{final} exists already: move it away or archive elsewhere")
    with session_scope(factory) as session:
        expected = _chain_ends(session, part)
        _write(session, part, partial, signer)
    try:
        _check(partial, part, expected, signer)
        with partial.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(partial, final)
        _fsync_dir(directory)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    sha256 = _sha256(final)
    with session_scope(factory) as session:
        record_seq = _drop(session, part, final, sha256, expected[1])
    log.info(
        "log.archive",
        partition=part.name,
        first_seq=part.first_seq,
        last_seq=part.last_seq,
        bundle=str(final),
        sha256=sha256,
        record_seq=record_seq,
    )
    return Archived(part.name, part.first_seq, part.last_seq, final, sha256, record_seq)


def _chain_ends(session: Session, part: Candidate) -> tuple[str, str]:
    """(prev_hash the partition's first record must carry, hash of its last record)."""
    if part.first_seq == 1:
        prev = GENESIS_PREV_HASH
    else:
        start = live_start(archived_ranges(session))
        if start is not None and start[0] == part.first_seq:
            prev = start[1]
        else:
            found = session.execute(
                select(LogRecord.hash).where(LogRecord.seq == part.first_seq - 1)
            ).scalar_one_or_none()
            if found is None:
                raise ArchiveRefused(f"{part.name}: record {part.first_seq - 1} is missing")
            prev = found
    last = session.execute(
        select(LogRecord.hash).where(LogRecord.seq == part.last_seq)
    ).scalar_one_or_none()
    if last is None:
        raise ArchiveRefused(f"{part.name}: record {part.last_seq} is missing")
    return prev, last


def _write(session: Session, part: Candidate, path: Path, signer: Signer) -> None:
    row = latest(session=session)
    if row is None or row.tree_size < part.last_seq:
        raise ArchiveRefused(f"{part.name}: no signed checkpoint covers seq {part.last_seq}")
    if row.key_id != key_fingerprint(signer.key):
        raise ArchiveRefused(
            "the latest checkpoint was signed by another key than this signing key; "
            "let the checkpointer sign a new one first"
        )
    checkpoint = to_checkpoint(row)
    scope = Scope(from_seq=part.first_seq, to_seq=part.last_seq)
    records, proofs = records_with_proofs(session, scope, checkpoint.tree_size)
    with path.open("wb") as out:
        write_bundle(
            out,
            records,
            proofs,
            checkpoint,
            public_key_pem(signer.key),
            {"archive": part.name, "from_seq": part.first_seq, "to_seq": part.last_seq},
            anchor=_anchor(session, part, checkpoint),
            cosignatures=witness.for_checkpoint(session=session, checkpoint=checkpoint),
        )


def _anchor(session: Session, part: Candidate, bundle: Checkpoint) -> dict[str, Any]:
    """The first checkpoint that covered the partition and a consistency proof from it
    to the bundle's (latest) one: verify-bundle checks that the later tree extends it."""
    first = session.scalars(
        select(CheckpointRow)
        .where(CheckpointRow.tree_size >= part.last_seq)
        .order_by(CheckpointRow.id)
        .limit(1)
    ).one()
    earlier = to_checkpoint(first)
    path = consistency_proof(earlier.tree_size, bundle.tree_size, SqlNodeStore(session))
    return {
        "kind": "archive",
        "partition": part.name,
        "checkpoint": earlier.to_dict(),
        "consistency_path": [node.hex() for node in path],
    }


def _check(path: Path, part: Candidate, expected: tuple[str, str], signer: Signer) -> None:
    """Verify the written file offline, then that it is the whole partition and links
    to the chain on both ends."""
    keyring = b"".join(public_key_pem(k) for k in (signer.key.public_key(), *signer.retired))
    report = verify_bundle(path, keyring)
    if not report.ok:
        raise ArchiveRefused(f"{part.name}: the written bundle does not verify: {report.failure}")
    count = part.end_seq - part.first_seq
    if report.records != count:
        raise ArchiveRefused(
            f"{part.name}: the bundle holds {report.records} records, the partition {count}"
        )
    first, last = _end_records(path)
    if first["record"]["seq"] != part.first_seq or last["record"]["seq"] != part.last_seq:
        raise ArchiveRefused(f"{part.name}: the bundle does not span the partition")
    if first["record"]["prev_hash"] != expected[0] or last["hash"] != expected[1]:
        raise ArchiveRefused(f"{part.name}: the bundle does not link to the live chain")


def _end_records(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    first: bytes | None = None
    last = b""
    with zipfile.ZipFile(path) as archive, archive.open(RECORDS) as lines:
        for line in io.TextIOWrapper(lines, encoding="utf-8"):
            data = line.encode()
            first = data if first is None else first
            last = data
    if first is None:
        raise ArchiveRefused(f"{path.name}: no records")
    return orjson.loads(first), orjson.loads(last)


def _drop(session: Session, part: Candidate, bundle: Path, sha256: str, last_hash: str) -> int:
    """One transaction: the log.archive record, the registry row, detach and drop."""
    # A lock wait here means a long reader of the log; better to fail and retry later
    # than to queue every new reader behind the detach.
    session.execute(text("SET LOCAL lock_timeout = '30s'"))
    lock_head(session)  # head lock before the table lock: appenders take them in that order
    for table, child in (("log_records", part.name), ("log_payloads", part.payload_table)):
        session.execute(text(f'ALTER TABLE {table} DETACH PARTITION "{child}"'))
    record_seq = record_internal(
        session=session,
        action=ARCHIVE_ACTION,
        actor={"type": "system", "id": "custody archive"},
        resource={"type": "log-partition", "id": part.name},
        attributes={
            "partition": part.name,
            "first_seq": part.first_seq,
            "last_seq": part.last_seq,
            "last_hash": last_hash,
            "records": part.end_seq - part.first_seq,
            "bundle": bundle.name,
            "bundle_sha256": sha256,
        },
    )
    session.execute(
        update(LogPartition)
        .where(LogPartition.name == part.name)
        .values(
            archived_at=datetime.now(UTC),
            archive_seq=record_seq,
            bundle=bundle.name,
            bundle_sha256=sha256,
        )
    )
    for child in (part.name, part.payload_table):
        session.execute(text(f'DROP TABLE "{child}"'))
    return record_seq


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
