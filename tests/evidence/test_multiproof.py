"""Batched proofs and batch-of-leaves roots equal the RFC 9162 reference."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from service.evidence.incremental import IncrementalTree
from service.evidence.merkle import MemoryNodeStore, reference_inclusion_proof, reference_root
from service.evidence.multiproof import inclusion_proofs, root_with_leaves


def _tree(n: int) -> tuple[list[bytes], MemoryNodeStore]:
    leaves = [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(n)]
    store = MemoryNodeStore()
    store.put_many(IncrementalTree().append(leaves))
    return leaves, store


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 300).flatmap(
        lambda n: st.tuples(st.just(n), st.sets(st.integers(0, n - 1), min_size=1))
    )
)
def test_root_with_any_set_of_known_leaves(case: tuple[int, set[int]]) -> None:
    n, known = case
    leaves, store = _tree(n)
    root = reference_root(leaves)
    assert root_with_leaves({i: leaves[i] for i in known}, n, store) == root
    wrong = min(known)
    forged = {i: leaves[i] for i in known} | {wrong: hashlib.sha256(b"forged").digest()}
    assert root_with_leaves(forged, n, store) != root


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 200).flatmap(lambda n: st.tuples(st.just(n), st.lists(st.integers(0, n - 1))))
)
def test_batched_inclusion_proofs(case: tuple[int, list[int]]) -> None:
    n, indices = case
    leaves, store = _tree(n)
    assert inclusion_proofs(indices, n, store) == [
        reference_inclusion_proof(i, leaves) for i in indices
    ]


def test_contiguous_runs_of_every_length() -> None:
    leaves, store = _tree(70)
    for start in range(70):
        for end in range(start + 1, 71):
            got = root_with_leaves({i: leaves[i] for i in range(start, end)}, 70, store)
            assert got == reference_root(leaves)
