"""Inclusion and consistency proofs served from the database-backed tree.

Bad parameters raise InvalidInput naming the parameter (422): a proof can only be
asked for sizes the tree has reached, since the tree follows the log asynchronously.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.errors import InvalidInput
from service.evidence.checkpoints import latest
from service.evidence.merkle import consistency_proof, inclusion_proof, root_at
from service.evidence.schemas import ConsistencyProofOut, InclusionProofOut
from service.evidence.store import SqlNodeStore, tree_size


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", errors=[{"field": field, "message": message}])


def _within_tree(session: Session, field: str, size: int) -> None:
    built = tree_size(session)
    if size > built:
        raise _invalid(
            field,
            f"{size} is beyond the Merkle tree (size {built}); POST /v1/log/checkpoints "
            "catches it up",
        )


def inclusion(*, session: Session, seq: int, tree_size_: int | None) -> InclusionProofOut:
    """Proof that record ``seq`` is leaf ``seq - 1`` of the tree of ``tree_size_`` leaves
    (default: the latest checkpoint's size, so the proof checks against a signed root)."""
    if seq < 1:
        raise _invalid("seq", "must be at least 1")
    if tree_size_ is None:
        row = latest(session=session)
        if row is None:
            raise _invalid("tree_size", "no checkpoint exists yet; pass tree_size")
        tree_size_ = row.tree_size
    if seq > tree_size_:
        raise _invalid("seq", f"{seq} is beyond tree_size {tree_size_}")
    _within_tree(session, "tree_size", tree_size_)
    store = SqlNodeStore(session)
    path = inclusion_proof(seq - 1, tree_size_, store)
    return InclusionProofOut(
        seq=seq,
        leaf_index=seq - 1,
        tree_size=tree_size_,
        leaf_hash=store.get(0, seq - 1).hex(),
        inclusion_path=[node.hex() for node in path],
        root_hash=root_at(tree_size_, store).hex(),
    )


def consistency(*, session: Session, first: int, second: int) -> ConsistencyProofOut:
    """Proof that the tree of ``second`` leaves extends the tree of ``first`` leaves."""
    if first < 1:
        raise _invalid("first", "must be at least 1")
    if first > second:
        raise _invalid("first", f"{first} is greater than second ({second})")
    _within_tree(session, "second", second)
    store = SqlNodeStore(session)
    return ConsistencyProofOut(
        tree_size_1=first,
        tree_size_2=second,
        consistency_path=[node.hex() for node in consistency_proof(first, second, store)],
        first_root=root_at(first, store).hex(),
        second_root=root_at(second, store).hex(),
    )
