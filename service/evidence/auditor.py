"""The auditor's check: is the current log a consistent extension of a checkpoint saved
earlier? Proves history up to that checkpoint was not rewritten since.

Three independent checks, so that neither the records nor the stored tree can be
rewritten alone or together without notice:
1. the saved checkpoint carries the log's signature;
2. the records themselves, re-hashed into a Merkle tree (flat memory: only the
   frontier is kept), give the saved root at its size, and the stored tree's root at
   the current size;
3. an RFC 9162 consistency proof from the stored tree leads from the saved checkpoint
   to the latest signed checkpoint (both signatures verified).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.orm import Session

from service.evidence.checkpoints import latest, to_checkpoint
from service.evidence.errors import EvidenceError
from service.evidence.incremental import IncrementalTree
from service.evidence.merkle import consistency_proof, root_at
from service.evidence.signing import (
    Checkpoint,
    verify_consistency_with_checkpoint,
    verify_with_keyring,
)
from service.evidence.store import SqlNodeStore, records_after, tree_size
from service.logformat import canonical_record, leaf_hash


@dataclass
class AuditReport:
    ok: bool
    old_size: int
    new_size: int | None = None
    reason: str | None = None


def _records_root(session: Session, old: Checkpoint, size: int) -> tuple[bytes | None, bytes]:
    """(root at ``old.tree_size``, root at ``size``) recomputed from the records."""
    tree = IncrementalTree()
    old_root = old.root_hash_bytes if old.tree_size == 0 else None
    for record in records_after(session, 0):
        if record["seq"] > size or record["seq"] != tree.size + 1:
            break  # past the tree, or a gap: the roots below will not match, the finding
        tree.append([leaf_hash(canonical_record(record))])
        if tree.size == old.tree_size:
            old_root = tree.root()
    return old_root, tree.root()


def check_against_checkpoint(
    *, session: Session, old: Checkpoint, public_key: Ed25519PublicKey | list[Ed25519PublicKey]
) -> AuditReport:
    report = AuditReport(ok=False, old_size=old.tree_size)
    try:
        keys = [public_key] if isinstance(public_key, Ed25519PublicKey) else public_key
        verify_with_keyring(keys, old)
    except EvidenceError as exc:
        report.reason = f"saved checkpoint: {exc}"
        return report
    row = latest(session=session)
    if row is None:
        report.reason = "the log has no checkpoint to compare with"
        return report
    new = to_checkpoint(row)
    report.new_size = new.tree_size
    if new.tree_size < old.tree_size:
        report.reason = (
            f"history truncated: the latest checkpoint covers {new.tree_size} records, "
            f"the saved one {old.tree_size}"
        )
        return report
    size = tree_size(session)
    old_root, records_root = _records_root(session, old, size)
    store = SqlNodeStore(session)
    if old_root != old.root_hash_bytes:
        report.reason = (
            f"history rewritten: records 1..{old.tree_size} no longer hash to the "
            "saved checkpoint's root"
        )
    elif records_root != root_at(size, store):
        report.reason = "the stored Merkle tree does not match the records"
    else:
        try:
            proof = consistency_proof(old.tree_size, new.tree_size, store)
            verify_consistency_with_checkpoint(old, new, proof, public_key)
        except EvidenceError as exc:
            report.reason = f"history rewritten: {exc}"
    report.ok = report.reason is None
    return report
