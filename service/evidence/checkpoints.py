"""Signed checkpoints of the database-backed tree: make, keep, list.

The signing key is loaded (or generated, mode 0600) from ``settings.signing_key_path``
on first use and cached per path, so the API and the worker sign with the same file.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.evidence.incident_scope import fill_anchors
from service.evidence.incremental import IncrementalTree
from service.evidence.keys import load_or_create_key
from service.evidence.models import CheckpointRow
from service.evidence.signing import Checkpoint, sign_checkpoint
from service.evidence.store import catch_up

_KEYS: dict[Path, Ed25519PrivateKey] = {}
_KEYS_LOCK = threading.Lock()


def signing_key(path: Path) -> Ed25519PrivateKey:
    """The log's Ed25519 key at ``path``, created on first use."""
    resolved = Path(path).resolve()
    with _KEYS_LOCK:
        key = _KEYS.get(resolved)
        if key is None:
            key = _KEYS[resolved] = load_or_create_key(resolved)
        return key


def to_checkpoint(row: CheckpointRow) -> Checkpoint:
    return Checkpoint(
        tree_size=row.tree_size,
        root_hash=row.root_hash,
        timestamp=row.timestamp,
        key_id=row.key_id,
        signature=row.signature,
    )


def store_checkpoint(
    *, session: Session, key: Ed25519PrivateKey, tree: IncrementalTree
) -> CheckpointRow:
    checkpoint = sign_checkpoint(key, tree.size, tree.root())
    row = CheckpointRow(**checkpoint.to_dict())
    session.add(row)
    session.flush()  # the id is the list cursor the caller returns
    fill_anchors(session=session, checkpoint=checkpoint)
    return row


def checkpoint_now(*, session: Session, key: Ed25519PrivateKey) -> CheckpointRow:
    """Catch the tree up to the log head in this transaction, then sign it."""
    tree = catch_up(session=session)
    return store_checkpoint(session=session, key=key, tree=tree)


def latest(*, session: Session) -> CheckpointRow | None:
    return session.scalars(select(CheckpointRow).order_by(CheckpointRow.id.desc()).limit(1)).first()


def covering(*, session: Session, seq: int) -> CheckpointRow | None:
    """The latest checkpoint whose tree includes ``seq``."""
    return session.scalars(
        select(CheckpointRow)
        .where(CheckpointRow.tree_size >= seq)
        .order_by(CheckpointRow.id.desc())
        .limit(1)
    ).first()


def listing(*, session: Session, after: int, limit: int) -> tuple[list[CheckpointRow], int | None]:
    """Checkpoints with id > ``after`` in creation order, and the next cursor."""
    rows = list(
        session.scalars(
            select(CheckpointRow)
            .where(CheckpointRow.id > after)
            .order_by(CheckpointRow.id)
            .limit(limit + 1)
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


def due(*, last: CheckpointRow | None, size: int, every_events: int, every_seconds: float) -> bool:
    """A periodic checkpoint is due when the tree grew since the last one and either
    enough events or enough time went by. An idle log gets no new checkpoints."""
    if size == 0:
        return False
    if last is None:
        return True
    if size <= last.tree_size:
        return False
    if size - last.tree_size >= every_events:
        return True
    made = datetime.fromisoformat(last.timestamp)
    return datetime.now(UTC) - made >= timedelta(seconds=every_seconds)
