"""Signed checkpoints of the database-backed tree: make, keep, list.

The signing key is loaded (or generated, mode 0600) from ``settings.signing_key_path``
on first use and cached per path, so the API and the worker sign with the same file.
Every checkpoint is signed through :func:`store_checkpoint`, which refuses a tree that is
not a consistent extension of the last signed one (see :mod:`.guard`).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.evidence.guard import (
    CheckpointRefused,
    inconsistency,
    last_signed,
    remember_after_commit,
    state_path,
)
from service.evidence.incident_scope import fill_anchors
from service.evidence.incremental import IncrementalTree
from service.evidence.keyring import register, retired_keys
from service.evidence.keys import load_or_create_key
from service.evidence.models import CheckpointRow
from service.evidence.signing import Checkpoint, sign_checkpoint
from service.evidence.store import catch_up
from service.logging import get_logger

log = get_logger(__name__)

_KEYS: dict[Path, tuple[tuple[int, int], Ed25519PrivateKey]] = {}
_KEYS_LOCK = threading.Lock()


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_ino, info.st_mtime_ns


def signing_key(path: Path) -> Ed25519PrivateKey:
    """The log's Ed25519 key at ``path``, created on first use, and loaded again when
    the file changes (`custody keys rotate` replaces it under running servers)."""
    resolved = Path(path).resolve()
    with _KEYS_LOCK:
        cached = _KEYS.get(resolved)
        stamp = _stamp(resolved)
        if cached is not None and stamp == cached[0]:
            return cached[1]
        key = load_or_create_key(resolved)
        _KEYS[resolved] = (_stamp(resolved) or (0, 0), key)
        return key


@dataclass(frozen=True, slots=True)
class Signer:
    """The key that signs checkpoints and the state file that remembers the last one
    (None only for tools that build throwaway logs, such as the benchmarks)."""

    key: Ed25519PrivateKey
    state: Path | None
    retired: tuple[Ed25519PublicKey, ...] = ()


def signer(path: Path) -> Signer:
    return Signer(signing_key(path), state_path(path), tuple(retired_keys(path)))


def to_checkpoint(row: CheckpointRow) -> Checkpoint:
    return Checkpoint(
        tree_size=row.tree_size,
        root_hash=row.root_hash,
        timestamp=row.timestamp,
        key_id=row.key_id,
        signature=row.signature,
    )


def store_checkpoint(*, session: Session, signer: Signer, tree: IncrementalTree) -> CheckpointRow:
    """Sign ``tree`` (caller holds the tree lock) and store the checkpoint; raise
    :class:`CheckpointRefused` (logged) if it does not extend the last signed one."""
    root = tree.root()
    if signer.state is not None:
        keys = [signer.key.public_key(), *signer.retired]
        try:
            last = last_signed(session, signer.state, keys)
        except CheckpointRefused as exc:  # the state file is there but unreadable
            log.error("checkpoint.refused", reason=exc.detail, tree_size=tree.size)
            raise
        finding = inconsistency(session, last, tree.size, root)
        if finding is not None:
            log.error(
                "checkpoint.refused",
                reason=finding.reason,
                tree_size=tree.size,
                root_hash=root.hex(),
                last_tree_size=finding.last.tree_size,
                last_root_hash=finding.last.root_hash,
            )
            raise CheckpointRefused(finding.reason)
    register(session, signer.key)  # GET /v1/log/public-key lists every key that signed
    checkpoint = sign_checkpoint(signer.key, tree.size, root)
    row = CheckpointRow(**checkpoint.to_dict())
    session.add(row)
    session.flush()  # the id is the list cursor the caller returns
    fill_anchors(session=session, checkpoint=checkpoint)
    if signer.state is not None:
        remember_after_commit(session, signer.state, checkpoint)
    return row


def checkpoint_now(*, session: Session, signer: Signer) -> CheckpointRow:
    """Catch the tree up to the log head in this transaction, then sign it."""
    tree = catch_up(session=session)
    return store_checkpoint(session=session, signer=signer, tree=tree)


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
