"""Verified replay: stream a scope's records in seq order, re-verifying each one.

Per record: the hash is recomputed from its content, the payload digest from its payload
(a missing payload needs an erasure record), and the chain link is checked: against the
previous streamed record when seqs are consecutive, otherwise against the stored hash of
``seq - 1`` (one batched lookup per batch). Every record covered by the anchoring
checkpoint (the latest one when the stream starts) is also proven to be in the signed
tree: per batch, the root is recomputed from the batch's leaves plus stored nodes and
compared with the signed root. That last step catches a rewrite of the whole chain
suffix, which links alone cannot. Records newer than the checkpoint are chain-checked
only; the trailer says how many were anchored.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from service.auditlog.canonical import ZERO_HASH
from service.auditlog.models import LogRecord
from service.auditlog.queries import to_public
from service.auditlog.record import payload_digest
from service.auditlog.verify import erased_seqs
from service.evidence.checkpoints import latest, to_checkpoint
from service.evidence.errors import EvidenceError
from service.evidence.multiproof import root_with_leaves
from service.evidence.schemas import Scope
from service.evidence.selection import select_scope
from service.evidence.signing import Checkpoint, verify_checkpoint
from service.evidence.store import SqlNodeStore, leaf_of

BATCH = 2000


@dataclass
class Outcome:
    count: int = 0
    anchored: int = 0
    first_bad_seq: int | None = None
    reason: str | None = None
    bad: set[int] = field(default_factory=set)

    def fail(self, seq: int, reason: str) -> None:
        self.bad.add(seq)
        if self.first_bad_seq is None or seq < self.first_bad_seq:
            self.first_bad_seq, self.reason = seq, reason


class Replayer:
    def __init__(self, session: Session, public_key: Ed25519PublicKey) -> None:
        self.session = session
        self.store = SqlNodeStore(session)
        self.erased = erased_seqs(session)
        self.outcome = Outcome()
        self.prev: tuple[int, str] | None = None
        self.anchor_error: str | None = None
        row = latest(session=session)
        self.checkpoint: Checkpoint | None = to_checkpoint(row) if row else None
        if self.checkpoint is not None:
            try:
                verify_checkpoint(public_key, self.checkpoint)
            except EvidenceError as exc:
                self.anchor_error = f"anchoring checkpoint: {exc}"

    def check(self, rows: Sequence[Any]) -> None:
        """Verify one batch (in seq order); failures land in ``self.outcome``."""
        leaves: dict[int, bytes] = {}
        detached: list[Any] = []  # rows whose predecessor was not streamed just before
        for row in rows:
            leaf, recomputed = leaf_of(row)
            if recomputed != row.hash:
                self.outcome.fail(row.seq, "content changed: the record does not match its hash")
            if self.prev is not None and self.prev[0] == row.seq - 1:
                if row.prev_hash != self.prev[1]:
                    self.outcome.fail(row.seq, "link broken: prev_hash differs from seq - 1's hash")
            else:
                detached.append(row)
            self._payload(row)
            if self.checkpoint is not None and row.seq <= self.checkpoint.tree_size:
                leaves[row.seq - 1] = leaf
            self.prev = (row.seq, row.hash)
        self._links(detached)
        self._anchor(leaves)
        self.outcome.count += len(rows)

    def _payload(self, row: Any) -> None:
        if row.payload_body is None:
            if row.seq not in self.erased:
                self.outcome.fail(row.seq, "payload missing without an erasure record")
        elif payload_digest(bytes.fromhex(row.salt), row.payload_body.encode()) != (
            row.payload_digest
        ):
            self.outcome.fail(row.seq, "payload changed: it does not match payload_digest")

    def _links(self, rows: Sequence[Any]) -> None:
        wanted = [row.seq - 1 for row in rows if row.seq > 1]
        stored: dict[int, str] = {}
        if wanted:
            query = select(LogRecord.seq, LogRecord.hash).where(LogRecord.seq.in_(wanted))
            stored = {int(r.seq): str(r.hash) for r in self.session.execute(query)}
        for row in rows:
            expected = ZERO_HASH if row.seq == 1 else stored.get(row.seq - 1)
            if expected is None:
                self.outcome.fail(row.seq, f"gap: record {row.seq - 1} is missing")
            elif row.prev_hash != expected:
                self.outcome.fail(row.seq, "link broken: prev_hash differs from seq - 1's hash")

    def _anchor(self, leaves: dict[int, bytes]) -> None:
        if not leaves or self.checkpoint is None or self.anchor_error:
            return
        size, root = self.checkpoint.tree_size, self.checkpoint.root_hash_bytes
        try:
            if root_with_leaves(leaves, size, self.store) == root:
                self.outcome.anchored += len(leaves)
                return
            # Rare path: find which records are not in the signed tree, one by one.
            for index, leaf in sorted(leaves.items()):
                if root_with_leaves({index: leaf}, size, self.store) != root:
                    self.outcome.fail(
                        index + 1, "not in the signed tree: differs from the checkpointed log"
                    )
                else:
                    self.outcome.anchored += 1
        except EvidenceError as exc:
            self.outcome.fail(min(leaves) + 1, f"Merkle tree incomplete: {exc}")

    def trailer(self, scope: Scope) -> dict[str, Any]:
        o = self.outcome
        return {
            "trailer": {
                "verified": o.first_bad_seq is None and self.anchor_error is None,
                "count": o.count,
                "anchored": o.anchored,
                "checkpoint": self.checkpoint.to_dict() if self.checkpoint else None,
                "first_bad_seq": o.first_bad_seq,
                "reason": o.reason or self.anchor_error,
                "scope": scope.as_dict(),
            }
        }


def replay(
    *,
    session: Session,
    scope: Scope,
    public_key: Ed25519PublicKey,
    stmt: Select[Any] | None = None,
    batch: int = BATCH,
) -> Iterator[bytes]:
    """NDJSON lines: one per record (the event with ``hash`` and ``verified``), then the
    trailer. Memory stays flat: rows are held one batch at a time. ``stmt`` is the
    scope's selection when the caller built it already (to report a bad scope before
    a response starts)."""
    replayer = Replayer(session, public_key)
    stmt = select_scope(session=session, scope=scope) if stmt is None else stmt
    result = session.execute(stmt.execution_options(yield_per=batch))
    try:
        for rows in result.partitions(batch):
            replayer.check(rows)
            bad = replayer.outcome.bad
            out = bytearray()
            for row in rows:
                event = to_public(row)
                event["verified"] = row.seq not in bad
                out += orjson.dumps(event) + b"\n"
            yield bytes(out)
    finally:
        result.close()  # also when the client goes away mid-stream
    yield orjson.dumps(replayer.trailer(scope)) + b"\n"
