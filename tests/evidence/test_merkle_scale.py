"""Proofs for large trees read O(log n) stored nodes, in one round trip.

Materialising a million-leaf tree in a dict would cost gigabytes, so these stores
synthesise nodes: one computes real hashes lazily (so proofs must also verify), the
other returns arbitrary bytes (enough to count reads at the 10-million target).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence

import pytest

from service.evidence.errors import MissingNodeError
from service.evidence.incremental import IncrementalTree
from service.evidence.merkle import (
    NodeKey,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_at,
    verify_consistency,
    verify_inclusion,
)

MEMO_FROM_LEVEL = 8  # memoise upper levels only: ~2*n/256 entries, recompute the rest


class CountingStore:
    """Counts round trips and keys; subclasses decide what a node hash is."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.round_trips = 0
        self.keys_read = 0

    def node(self, level: int, index: int) -> bytes:
        raise NotImplementedError

    def _checked(self, level: int, index: int) -> bytes:
        # A real store only holds complete subtrees; asking for more is a bug.
        if (index + 1) << level > self.size:
            raise MissingNodeError(level, index)
        return self.node(level, index)

    def get(self, level: int, index: int) -> bytes:
        self.round_trips += 1
        self.keys_read += 1
        return self._checked(level, index)

    def get_many(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        self.round_trips += 1
        self.keys_read += len(keys)
        return {key: self._checked(*key) for key in keys}

    def reset(self) -> None:
        self.round_trips = self.keys_read = 0


class LazyTreeStore(CountingStore):
    """Real RFC 9162 tree over leaves ``leaf_hash(str(i))``, computed on demand."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self._memo: dict[NodeKey, bytes] = {}

    def node(self, level: int, index: int) -> bytes:
        if level == 0:
            return leaf_hash(str(index).encode())
        cached = self._memo.get((level, index))
        if cached is not None:
            return cached
        result = node_hash(self.node(level - 1, 2 * index), self.node(level - 1, 2 * index + 1))
        if level >= MEMO_FROM_LEVEL:
            self._memo[(level, index)] = result
        return result


class ArbitraryStore(CountingStore):
    """Distinct, deterministic, but unrelated hashes: only read counts are meaningful."""

    def node(self, level: int, index: int) -> bytes:
        return hashlib.sha256(f"{level}/{index}".encode()).digest()


def read_bound(size: int) -> int:
    return 2 * math.ceil(math.log2(size)) + 2


@pytest.fixture(scope="module")
def million() -> LazyTreeStore:
    store = LazyTreeStore(1_000_003)
    root_at(store.size, store)  # warm the memo once for the whole module
    return store


@pytest.mark.parametrize("index", [0, 1, 524_287, 524_288, 999_999, 1_000_002])
def test_inclusion_at_a_million(million: LazyTreeStore, index: int) -> None:
    size = million.size
    root = root_at(size, million)
    million.reset()
    proof = inclusion_proof(index, size, million)
    assert million.round_trips == 1
    assert million.keys_read <= read_bound(size)
    assert verify_inclusion(million.node(0, index), index, size, proof, root)


@pytest.mark.parametrize("m", [1, 2, 1000, 524_288, 777_777, 1_000_002])
def test_consistency_at_a_million(million: LazyTreeStore, m: int) -> None:
    n = million.size
    roots = root_at(m, million), root_at(n, million)
    million.reset()
    proof = consistency_proof(m, n, million)
    assert million.round_trips == 1
    assert million.keys_read <= read_bound(n)
    assert verify_consistency(m, n, *roots, proof)


def test_root_and_frontier_at_a_million_read_popcount_nodes(million: LazyTreeStore) -> None:
    million.reset()
    tree = IncrementalTree.from_store(million.size, million)
    assert (million.round_trips, million.keys_read) == (1, million.size.bit_count())
    assert tree.root() == root_at(million.size, million)


@pytest.mark.parametrize("size", [10_000_000, 2**24 - 1, 2**24])
def test_ten_million_reads_stay_logarithmic(size: int) -> None:
    store = ArbitraryStore(size)
    bound = read_bound(size)
    for index in (0, size // 3, size // 2, size - 2, size - 1):
        store.reset()
        proof = inclusion_proof(index, size, store)
        assert len(proof) <= math.ceil(math.log2(size))
        assert (store.round_trips, store.keys_read <= bound) == (1, True)
    for m in (1, 3, size // 3, size // 2 + 1, size - 1):
        store.reset()
        consistency_proof(m, size, store)
        assert (store.round_trips, store.keys_read <= bound) == (1, True)
