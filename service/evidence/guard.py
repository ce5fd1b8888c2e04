"""The checkpointer's memory outside the database, and the check it makes before signing.

Someone who can write the database can rewrite a record, re-chain every later one, wipe
``merkle_*`` and ``checkpoints`` and wait: an honest checkpointer would rebuild the tree
from the forged records and sign it. So the last signed checkpoint is also kept in a
state file next to the signing key (``<key>.last-checkpoint.json``), written after the
transaction that stored it commits, and no tree is signed unless an RFC 9162 consistency
proof shows it extends that checkpoint. The database alone can then neither rewrite nor
truncate signed history; only whoever also holds the key directory can (witnesses, which
keep their own copy, cover that).

The state file is trusted on sight (it lives with the key, mode 0600); with none yet, the
latest checkpoint in the database whose signature verifies is the starting point, so an
existing deployment adopts the guard on its next checkpoint.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from service.errors import ServiceError
from service.evidence.errors import EvidenceError, MissingNodeError
from service.evidence.merkle import consistency_proof, verify_consistency
from service.evidence.models import CheckpointRow
from service.evidence.signing import Checkpoint, checkpoint_is_valid
from service.evidence.store import SqlNodeStore, read_tree
from service.logging import get_logger

log = get_logger(__name__)

STATE_SUFFIX = ".last-checkpoint.json"
_PENDING = "custody_checkpoint_state"


class CheckpointRefused(ServiceError):
    """The tree to sign is not a consistent extension of the last signed checkpoint."""

    status = 409
    title = "Checkpoint refused"


def state_path(key_path: Path) -> Path:
    key_path = Path(key_path)
    return key_path.with_name(key_path.name + STATE_SUFFIX)


def read_state(path: Path) -> Checkpoint | None:
    """The checkpoint in the state file, None if there is none yet.

    A file that exists but cannot be read as a checkpoint is an error, never "none":
    treating it as absent would let whoever corrupts it disable the guard.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CheckpointRefused(f"checkpoint state file {path} is unreadable: {exc}") from exc
    try:
        return Checkpoint.from_dict(data)
    except EvidenceError as exc:
        raise CheckpointRefused(f"checkpoint state file {path} is malformed: {exc}") from exc


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialize writers of one state file (API processes and the worker share it)."""
    lock = path.with_name(path.name + ".lock")
    fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write_state(path: Path, checkpoint: Checkpoint) -> None:
    """Keep ``checkpoint`` unless the file already holds a larger one (atomic replace)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _locked(path):
        with contextlib.suppress(CheckpointRefused):
            current = read_state(path)
            if current is not None and current.tree_size > checkpoint.tree_size:
                return
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(checkpoint.to_dict(), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)


def remember_after_commit(session: Session, path: Path, checkpoint: Checkpoint) -> None:
    """Write ``checkpoint`` to the state file once ``session`` commits (never if it rolls
    back: a checkpoint over records that were never committed would wedge the guard)."""
    session.info.setdefault(_PENDING, []).append((path, checkpoint))


@event.listens_for(Session, "after_commit")
def _write_pending(session: Session) -> None:
    for path, checkpoint in session.info.pop(_PENDING, []):
        try:
            write_state(path, checkpoint)
        except OSError:
            # The checkpoint is committed; a stale state file only weakens the guard to
            # the previous checkpoint, so say so loudly rather than fail the request.
            log.error("checkpoint.state_write_failed", path=str(path), exc_info=True)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _from_database(session: Session, public_keys: list[Ed25519PublicKey]) -> Checkpoint | None:
    row = session.scalars(select(CheckpointRow).order_by(CheckpointRow.id.desc()).limit(1)).first()
    if row is None:
        return None
    found = Checkpoint(row.tree_size, row.root_hash, row.timestamp, row.key_id, row.signature)
    if any(checkpoint_is_valid(key, found) for key in public_keys):
        return found
    return None


def last_signed(
    session: Session, path: Path, public_keys: list[Ed25519PublicKey]
) -> Checkpoint | None:
    """The checkpoint a new one must extend: the state file's, else the database's."""
    return read_state(path) or _from_database(session, public_keys)


@dataclass(frozen=True, slots=True)
class Finding:
    last: Checkpoint
    size: int
    reason: str


def inconsistency(
    session: Session, last: Checkpoint | None, size: int, root: bytes
) -> Finding | None:
    """Why the tree ``(size, root)`` in this session's database is not a consistent
    extension of ``last``, or None when it is (an RFC 9162 consistency proof from the
    stored nodes leads from ``last`` to ``root``)."""
    if last is None:
        return None
    if size < last.tree_size:
        return Finding(
            last,
            size,
            f"the Merkle tree has {size} records, fewer than the {last.tree_size} of the "
            "last signed checkpoint: the log was truncated or the tree wiped",
        )
    try:
        proof = consistency_proof(last.tree_size, size, SqlNodeStore(session))
    except MissingNodeError as exc:
        return Finding(last, size, f"the stored Merkle tree is incomplete ({exc})")
    if not verify_consistency(last.tree_size, size, last.root_hash_bytes, root, proof):
        return Finding(
            last,
            size,
            f"the tree of {size} records is not a consistent extension of the last signed "
            f"checkpoint (size {last.tree_size}, root {last.root_hash}): history was rewritten",
        )
    return None


def check_database(session: Session, key_path: Path) -> str | None:
    """Why the database's tree does not extend the checkpoint in the state file next to
    ``key_path``, or None (also when there is no state file yet). Read-only and
    O(log n): what ``/readyz`` and the metrics ask on every probe."""
    last = read_state(state_path(key_path))
    tree = read_tree(session)
    finding = inconsistency(session, last, tree.size, tree.root())
    return None if finding is None else finding.reason
