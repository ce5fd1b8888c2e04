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

The loop over records is the replay throughput (docs/ingest-performance.md), so it
works on the driver's row tuples (``rowstream``) and writes each verified record's line
by splicing bytes it has already checked: the canonical record it hashed (less ``v``)
and the stored canonical payload whose digest it matched. A record that fails any check
gets its line built the slow way instead, from parsed values.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from service.auditlog.archived import archived_ranges
from service.auditlog.models import LogPayload, LogRecord
from service.auditlog.verify import erased_seqs
from service.evidence.checkpoints import latest, to_checkpoint
from service.evidence.errors import EvidenceError
from service.evidence.merkle import NodeKey
from service.evidence.multiproof import root_with_leaves
from service.evidence.schemas import Scope
from service.evidence.selection import select_scope
from service.evidence.signing import Checkpoint, verify_checkpoint
from service.evidence.store import SqlNodeStore
from service.evidence.trace_tree import tree_order
from service.logformat import (
    GENESIS_PREV_HASH,
    RECORD_COLUMNS,
    chain_hash,
    leaf_hash,
    payload_digest,
    record_builder,
    shape_problem,
)
from service.rowstream import row_batches

#: Records per verified batch: one stored-node lookup (and at most one link lookup) each.
BATCH = 5000
Row = tuple[Any, ...]
_SORTED = orjson.OPT_SORT_KEYS
# "v" sorts after every other record key, so canonical bytes end with ,"v":N}.
_V = b',"v":'
_KEPT = b'%b,"hash":"%b",%b,"erased":false,"verified":true}\n'
_ERASED = b'%b,"hash":"%b","attributes":null,"raw":null,"erased":true,"verified":true}\n'
_PAYLOAD = b'{"attributes":'
COLUMNS = (
    *(LogRecord.__table__.c[name] for name in RECORD_COLUMNS),
    LogRecord.hash,
    LogPayload.body.label("payload_body"),
    LogPayload.salt,
)


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


class _CachedNodes(SqlNodeStore):
    """Stored nodes remembered across batches: consecutive batches need mostly the same
    large subtrees beside them, so each lookup asks only for the few new ones."""

    LIMIT = 100_000  # entries (~10 MB); far more than a stream of any length reuses

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.known: dict[NodeKey, bytes] = {}

    def get_many(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        known = self.known
        missing = [key for key in keys if key not in known]
        if missing:
            if len(known) > self.LIMIT:
                known.clear()
            known.update(super().get_many(missing))
        return {key: known[key] for key in keys if key in known}


class Replayer:
    def __init__(self, session: Session, public_key: Ed25519PublicKey, keys: Sequence[str]) -> None:
        self.session = session
        self.store = _CachedNodes(session)
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
        self.build = record_builder(keys)
        # Positions, not names: rows are the driver's plain tuples.
        self.i_seq, self.i_hash, self.i_body, self.i_salt = (
            keys.index(k) for k in ("seq", "hash", "payload_body", "salt")
        )

    def check(self, rows: Sequence[Row]) -> list[bytes]:
        """Verify one batch of rows (in seq order) and return each record's NDJSON line;
        failures land in ``self.outcome`` and their lines say ``"verified": false``."""
        build, erased, outcome = self.build, self.erased, self.outcome
        fail = outcome.fail
        i_hash, i_body, i_salt = self.i_hash, self.i_body, self.i_salt
        tree_size = self.checkpoint.tree_size if self.checkpoint is not None else 0
        known_bad = len(outcome.bad)
        leaves: dict[int, bytes] = {}
        detached: list[tuple[int, str]] = []  # records whose predecessor was not just before
        lines: list[bytes] = []
        prev_seq, prev_stored = self.prev if self.prev is not None else (-1, "")
        for row in rows:
            record = build(row)
            seq, prev_hash, stored_hash = record["seq"], record["prev_hash"], row[i_hash]
            data = orjson.dumps(record, option=_SORTED)  # canonical_record, inlined
            ok = True
            try:
                if chain_hash(prev_hash, data) != stored_hash:
                    fail(seq, "content changed: the record does not match its hash")
                    ok = False
            except ValueError:  # prev_hash is not hex
                fail(seq, "content changed: the record does not match its hash")
                ok = False
            if ok and (problem := shape_problem(record)) is not None:
                fail(seq, f"malformed record: {problem}")
                ok = False
            if prev_seq == seq - 1:
                if prev_hash != prev_stored:
                    fail(seq, "link broken: prev_hash differs from seq - 1's hash")
                    ok = False
            else:
                detached.append((seq, prev_hash))
            body = row[i_body]
            if body is None:
                if seq not in erased:
                    fail(seq, "payload missing without an erasure record")
                    ok = False
                line = _ERASED % (data[: data.rindex(_V)], stored_hash.encode()) if ok else b""
            else:
                raw = body.encode()
                try:
                    digest = payload_digest(bytes.fromhex(row[i_salt] or ""), raw)
                except ValueError:  # salt is not hex
                    digest = ""
                if digest != record["payload_digest"]:
                    fail(seq, "payload changed: it does not match payload_digest")
                    ok = False
                # The stored payload is JCS of {"attributes", "raw"}: its members splice in.
                if ok and raw.startswith(_PAYLOAD):
                    line = _KEPT % (data[: data.rindex(_V)], stored_hash.encode(), raw[1:-1])
                else:
                    line = b""
            lines.append(line)
            if seq <= tree_size:
                leaves[seq - 1] = leaf_hash(data)
            prev_seq, prev_stored = seq, stored_hash
        if rows:
            self.prev = (prev_seq, prev_stored)
        self._links(detached)
        self._anchor(leaves)
        outcome.count += len(rows)
        if len(outcome.bad) > known_bad or not all(lines):
            # Rare: some record failed (here, its link, or its anchor) or its payload is not
            # in the usual form; build those lines from parsed values.
            bad, i_seq = outcome.bad, self.i_seq
            for n, row in enumerate(rows):
                if not lines[n] or row[i_seq] in bad:
                    lines[n] = orjson.dumps(self.event(row)) + b"\n"
        return lines

    def event(self, row: Row) -> dict[str, Any]:
        """The event as ``GET /v1/events`` shows it, plus ``verified``."""
        event = self.build(row)
        del event["v"]
        event["hash"] = row[self.i_hash]
        body = row[self.i_body]
        if body is None:
            event.update(attributes=None, raw=None, erased=True)
        else:
            try:
                payload = orjson.loads(body)
                attributes, raw = payload["attributes"], payload["raw"]
            except (orjson.JSONDecodeError, TypeError, KeyError):  # a tampered payload
                attributes = raw = None
            event.update(attributes=attributes, raw=raw, erased=False)
        event["verified"] = event["seq"] not in self.outcome.bad
        return event

    def _links(self, records: Sequence[tuple[int, str]]) -> None:
        wanted = [seq - 1 for seq, _ in records if seq > 1]
        stored: dict[int, str] = {}
        if wanted:
            query = select(LogRecord.seq, LogRecord.hash).where(LogRecord.seq.in_(wanted))
            stored = {int(r.seq): str(r.hash) for r in self.session.execute(query)}
        for seq, prev_hash in records:
            expected = (
                GENESIS_PREV_HASH if seq == 1 else stored.get(seq - 1) or self.archived.get(seq - 1)
            )
            if expected is None:
                self.outcome.fail(seq, f"gap: record {seq - 1} is missing")
            elif prev_hash != expected:
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
    a response starts). Reads committed rows: on PostgreSQL the rows stream on a
    connection of their own."""
    stmt = select_scope(session=session, scope=scope) if stmt is None else stmt
    # Only what is checked or shown (content_hash is an ingest-side lookup key).
    stmt = stmt.with_only_columns(*COLUMNS, maintain_column_froms=True)
    with row_batches(session, stmt, batch) as (keys, batches):
        replayer = Replayer(session, public_key, keys)
        # One trace is one agent run: small enough to hold, and useful only as a whole tree.
        held: list[Row] | None = [] if scope.trace_id else None
        for rows in batches:
            lines = replayer.check(rows)
            if held is None:
                yield b"".join(lines)
            else:
                held.extend(rows)
    trailer = replayer.trailer(scope)
    if held is not None:
        nodes, summary = tree_order([replayer.event(row) for row in held])
        yield b"".join(orjson.dumps(node) + b"\n" for node in nodes)
        trailer["trailer"]["tree"] = {"trace_id": scope.trace_id, **summary}
    yield orjson.dumps(trailer) + b"\n"
