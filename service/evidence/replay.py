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

from service.auditlog.archived import archived_ranges
from service.auditlog.models import LogRecord
from service.auditlog.verify import erased_seqs
from service.evidence.checkpoints import latest, to_checkpoint
from service.evidence.errors import EvidenceError
from service.evidence.multiproof import root_with_leaves
from service.evidence.schemas import Scope
from service.evidence.selection import select_scope
from service.evidence.signing import Checkpoint, verify_checkpoint
from service.evidence.store import SqlNodeStore
from service.evidence.trace_tree import tree_order
from service.logformat import (
    GENESIS_PREV_HASH,
    canonical_record,
    chain_hash,
    leaf_hash,
    payload_digest,
    record_builder,
    shape_problem,
)

BATCH = 2000

#: (record as hashed, stored hash, payload body or None, salt hex or None)
Item = tuple[dict[str, Any], str, str | None, str | None]


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
        # The first record after an archived range links to the hash its log.archive
        # record names (the predecessor now lives in the bundle).
        self.archived = {r.last_seq: r.last_hash for r in archived_ranges(session)}
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

    def check(self, items: Sequence[Item]) -> None:
        """Verify one batch (in seq order); failures land in ``self.outcome``."""
        leaves: dict[int, bytes] = {}
        detached: list[Item] = []  # records whose predecessor was not streamed just before
        fail = self.outcome.fail
        for item in items:
            record, stored_hash, body, salt = item
            seq, prev_hash = record["seq"], record["prev_hash"]
            data = canonical_record(record)
            if chain_hash(prev_hash, data) != stored_hash:
                fail(seq, "content changed: the record does not match its hash")
            elif (problem := shape_problem(record)) is not None:
                fail(seq, f"malformed record: {problem}")
            if self.prev is not None and self.prev[0] == seq - 1:
                if prev_hash != self.prev[1]:
                    fail(seq, "link broken: prev_hash differs from seq - 1's hash")
            else:
                detached.append(item)
            if body is None:
                if seq not in self.erased:
                    fail(seq, "payload missing without an erasure record")
            elif (
                payload_digest(bytes.fromhex(salt or ""), body.encode()) != record["payload_digest"]
            ):
                fail(seq, "payload changed: it does not match payload_digest")
            if self.checkpoint is not None and seq <= self.checkpoint.tree_size:
                leaves[seq - 1] = leaf_hash(data)
            self.prev = (seq, stored_hash)
        self._links(detached)
        self._anchor(leaves)
        self.outcome.count += len(items)

    def _links(self, items: Sequence[Item]) -> None:
        records = [item[0] for item in items]
        wanted = [r["seq"] - 1 for r in records if r["seq"] > 1]
        stored: dict[int, str] = {}
        if wanted:
            query = select(LogRecord.seq, LogRecord.hash).where(LogRecord.seq.in_(wanted))
            stored = {int(r.seq): str(r.hash) for r in self.session.execute(query)}
        for record in records:
            seq = record["seq"]
            expected = (
                GENESIS_PREV_HASH
                if seq == 1
                else stored.get(seq - 1) or self.archived.get(seq - 1)
            )
            if expected is None:
                self.outcome.fail(seq, f"gap: record {seq - 1} is missing")
            elif record["prev_hash"] != expected:
                self.outcome.fail(seq, "link broken: prev_hash differs from seq - 1's hash")

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
    # Core execution: ORM row processing would cost as much as the verification itself.
    result = session.connection().execute(stmt.execution_options(yield_per=batch))
    keys = list(result.keys())
    build = record_builder(keys)
    # Positions, not attributes: a Row attribute read costs ~1 us, ~20x an index.
    i_hash, i_body, i_salt = (keys.index(k) for k in ("hash", "payload_body", "salt"))
    # One trace is one agent run: small enough to hold, and useful only as a whole tree.
    held: list[Item] | None = [] if scope.trace_id else None
    try:
        for rows in result.partitions(batch):
            # Plain tuples: indexing one is about half the cost of indexing a Row.
            items = [
                (build(row), row[i_hash], row[i_body], row[i_salt]) for row in map(tuple, rows)
            ]
            replayer.check(items)
            if held is None:
                yield _lines(items, replayer.outcome.bad)
            else:
                held.extend(items)
    finally:
        result.close()  # also when the client goes away mid-stream
    trailer = replayer.trailer(scope)
    if held is not None:
        nodes, summary = tree_order([_event(item, replayer.outcome.bad) for item in held])
        yield b"".join(orjson.dumps(node) + b"\n" for node in nodes)
        trailer["trailer"]["tree"] = {"trace_id": scope.trace_id, **summary}
    yield orjson.dumps(trailer) + b"\n"


def _event(item: Item, bad: set[int]) -> dict[str, Any]:
    """The event as ``GET /v1/events`` shows it, plus ``verified``."""
    record, stored_hash, body, _ = item
    event = dict(record)
    del event["v"]
    event["hash"] = stored_hash
    if body is None:
        event.update(attributes=None, raw=None, erased=True)
    else:
        payload = orjson.loads(body)
        event.update(attributes=payload["attributes"], raw=payload["raw"], erased=False)
    event["verified"] = record["seq"] not in bad
    return event


def _lines(items: Sequence[Item], bad: set[int]) -> bytes:
    return b"".join(orjson.dumps(_event(item, bad)) + b"\n" for item in items)
