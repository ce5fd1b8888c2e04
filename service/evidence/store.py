"""The Merkle tree kept in the database: a NodeStore over ``merkle_nodes`` and the
appender that makes the tree follow the log by seq.

The tree follows the log asynchronously (worker task, or on demand before a
checkpoint): ingest never pays for it. Appenders lock the ``merkle_state`` row first,
so concurrent appenders (worker and an on-demand checkpoint) queue, never fork.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import and_, insert, or_, select, text, update
from sqlalchemy.orm import Session

from service.auditlog.chain import read_head
from service.auditlog.models import LogRecord
from service.evidence.errors import MissingNodeError
from service.evidence.incremental import IncrementalTree
from service.evidence.merkle import HASH_SIZE, Node, NodeKey
from service.evidence.models import MerkleNode, MerkleState
from service.logformat import canonical_record, leaf_hash, record_builder

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
            # One `level = L AND idx IN (...)` per level, OR-ed: both databases answer
            # each from the primary key. SQLite does not for a row-value IN, and scans
            # the whole table instead (a proof then costs O(n), not O(log n)).
            by_level: dict[int, list[int]] = {}
            for level, idx in chunk:
                by_level.setdefault(level, []).append(idx)
            rows = self.session.execute(
                select(MerkleNode.level, MerkleNode.idx, MerkleNode.hash).where(
                    or_(
                        *(
                            and_(MerkleNode.level == level, MerkleNode.idx.in_(indexes))
                            for level, indexes in by_level.items()
                        )
                    )
                )
            )
            for level, idx, digest in rows:
                found[(int(level), int(idx))] = bytes(digest)
        return found


def records_after(
    session: Session, size: int, limit: int | None = None
) -> Iterator[dict[str, Any]]:
    """Records with seq > ``size`` in seq order, as hashed (flat memory)."""
    stmt = select(*LogRecord.__table__.columns).where(LogRecord.seq > size).order_by(LogRecord.seq)
    if limit is not None:
        stmt = stmt.limit(limit)
    result = session.execute(stmt.execution_options(yield_per=APPEND_BATCH))
    try:
        build = record_builder(list(result.keys()))
        for row in result:
            yield build(row)
    finally:
        result.close()


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
    leaves: list[bytes] = []
    for expected, record in enumerate(
        records_after(session, tree.size, limit), start=tree.size + 1
    ):
        if record["seq"] != expected:
            break
        leaves.append(leaf_hash(canonical_record(record)))
    if not leaves:
        return 0
    _insert_nodes(session, tree.append(leaves))
    session.execute(
        update(MerkleState)
        .where(MerkleState.id == 1)
        .values(size=tree.size, frontier=b"".join(tree.frontier))
    )
    return len(leaves)


def _insert_nodes(session: Session, nodes: Sequence[Node]) -> None:
    """Two rows per leaf: on PostgreSQL COPY them (in this transaction), ~3x executemany."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        rows = [{"level": n.level, "idx": n.index, "hash": n.hash} for n in nodes]
        session.execute(insert(MerkleNode), rows)
        return
    dbapi: Any = connection.connection.dbapi_connection
    with (
        dbapi.cursor() as cursor,
        cursor.copy("COPY merkle_nodes (level, idx, hash) FROM STDIN") as copy,
    ):
        for node in nodes:
            copy.write_row((node.level, node.index, node.hash))


def catch_up(*, session: Session, to_seq: int | None = None) -> IncrementalTree:
    """Lock the tree and append every record up to ``to_seq`` (default: the log head)."""
    tree = read_tree(session, lock=True)
    target = read_head(session)[0] if to_seq is None else to_seq
    while tree.size < target:
        batch = min(APPEND_BATCH, target - tree.size)
        if not append_from_log(session=session, tree=tree, limit=batch):
            break
    return tree
