"""The Merkle tree kept in the database: a NodeStore over ``merkle_nodes`` and the
appender that makes the tree follow the log by seq.

The tree follows the log asynchronously (worker task, or on demand before a
checkpoint): ingest never pays for it. Appenders lock the ``merkle_state`` row first,
so concurrent appenders (worker and an on-demand checkpoint) queue, never fork.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from sqlalchemy import insert, select, text, tuple_, update
from sqlalchemy.orm import Session

from service.auditlog.canonical import canonical_record
from service.auditlog.chain import read_head
from service.auditlog.models import LogRecord
from service.auditlog.record import record_from_row
from service.evidence.errors import MissingNodeError
from service.evidence.incremental import IncrementalTree
from service.evidence.merkle import HASH_SIZE, NodeKey
from service.evidence.models import MerkleNode, MerkleState

APPEND_BATCH = 5000
# Keys per SELECT: keeps statements well under the bind-parameter limits of both databases.
_KEY_CHUNK = 400


class SqlNodeStore:
    """NodeStore over ``merkle_nodes``; a proof is one ``get_many`` of O(log n) keys."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, level: int, index: int) -> bytes:
        found = self.get_many([(level, index)])
        if (level, index) not in found:
            raise MissingNodeError(level, index)
        return found[(level, index)]

    def get_many(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        found: dict[NodeKey, bytes] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _KEY_CHUNK):
            chunk = unique[start : start + _KEY_CHUNK]
            rows = self.session.execute(
                select(MerkleNode.level, MerkleNode.idx, MerkleNode.hash).where(
                    tuple_(MerkleNode.level, MerkleNode.idx).in_(chunk)
                )
            )
            for level, idx, digest in rows:
                found[(int(level), int(idx))] = bytes(digest)
        return found


def leaf_of(row: object) -> tuple[bytes, str]:
    """(Merkle leaf hash, recomputed chain hash) of a ``log_records`` row, from one
    canonical encoding: leaf = SHA-256(0x00 || JCS(record))."""
    record = record_from_row(row)
    data = canonical_record(record)
    leaf = hashlib.sha256(b"\x00" + data).digest()
    chained = hashlib.sha256(bytes.fromhex(record["prev_hash"]) + data).hexdigest()
    return leaf, chained


def read_tree(session: Session, *, lock: bool = False) -> IncrementalTree:
    """The tree as last committed; ``lock`` takes the appender lock for the transaction."""
    if lock:
        # An UPDATE first: SQLite takes its write lock now, PostgreSQL a row lock.
        row = session.execute(
            text("UPDATE merkle_state SET size = size WHERE id = 1 RETURNING size, frontier")
        ).one()
    else:
        row = session.execute(
            select(MerkleState.size, MerkleState.frontier).where(MerkleState.id == 1)
        ).one()
    blob = bytes(row.frontier)
    frontier = [blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)]
    return IncrementalTree(int(row.size), frontier)


def tree_size(session: Session) -> int:
    return int(session.execute(select(MerkleState.size).where(MerkleState.id == 1)).scalar_one())


def append_from_log(*, session: Session, tree: IncrementalTree, limit: int = APPEND_BATCH) -> int:
    """Append up to ``limit`` records after ``tree.size`` (caller holds the lock from
    :func:`read_tree`); persist nodes and state; return how many leaves were added.

    Stops at the first missing seq: appends commit in seq order, but a gap (a deleted
    record) must stall the tree rather than shift every later leaf index.
    """
    rows = session.execute(
        select(*LogRecord.__table__.columns)
        .where(LogRecord.seq > tree.size)
        .order_by(LogRecord.seq)
        .limit(limit)
    ).all()
    leaves: list[bytes] = []
    for expected, row in enumerate(rows, start=tree.size + 1):
        if row.seq != expected:
            break
        leaves.append(leaf_of(row)[0])
    if not leaves:
        return 0
    nodes = tree.append(leaves)
    session.execute(
        insert(MerkleNode), [{"level": n.level, "idx": n.index, "hash": n.hash} for n in nodes]
    )
    session.execute(
        update(MerkleState)
        .where(MerkleState.id == 1)
        .values(size=tree.size, frontier=b"".join(tree.frontier))
    )
    return len(leaves)


def catch_up(*, session: Session, to_seq: int | None = None) -> IncrementalTree:
    """Lock the tree and append every record up to ``to_seq`` (default: the log head)."""
    tree = read_tree(session, lock=True)
    target = read_head(session)[0] if to_seq is None else to_seq
    while tree.size < target:
        batch = min(APPEND_BATCH, target - tree.size)
        if not append_from_log(session=session, tree=tree, limit=batch):
            break
    return tree
