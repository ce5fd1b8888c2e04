"""Many leaves at once: batched inclusion proofs, and checking a batch of known leaves
against a signed root with one ``get_many`` for everything the batch does not cover.

Replay and export handle records in batches; proving each record separately would cost
one round trip per record. Here a batch costs one ``get_many`` (of the union of the
keys), and a contiguous batch of B leaves needs only O(log n) stored nodes, since the
hashes inside the batch are recomputed from the leaves themselves.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence

from service.evidence.merkle import (
    NodeKey,
    NodeStore,
    _fold,
    _inclusion_ranges,
    _split,
    fetch_nodes,
    node_hash,
    perfect_cover,
)


def inclusion_proofs(indices: Sequence[int], size: int, store: NodeStore) -> list[list[bytes]]:
    """RFC 9162 audit paths of every leaf in ``indices`` for the tree of ``size`` leaves."""
    for index in indices:
        if not 0 <= index < size:
            raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    all_ranges = [_inclusion_ranges(index, 0, size) for index in indices]
    covers = {r: perfect_cover(*r) for ranges in all_ranges for r in ranges}
    keys = list(dict.fromkeys(key for cover in covers.values() for key in cover))
    fetched = fetch_nodes(store, keys)
    hashes = {r: _fold([fetched[key] for key in cover]) for r, cover in covers.items()}
    return [[hashes[r] for r in ranges] for ranges in all_ranges]


class _Known:
    """Sorted leaf indices with their hashes; answers "any known leaf in [a, b)?"."""

    def __init__(self, leaves: Mapping[int, bytes]) -> None:
        self.leaves = leaves
        self.order = sorted(leaves)

    def count_in(self, start: int, end: int) -> int:
        return bisect_left(self.order, end) - bisect_left(self.order, start)


def _mth(hashes: list[bytes]) -> bytes:
    """MTH of consecutive leaves, bottom-up: pair neighbours and carry an odd last node up
    unchanged, which is exactly the RFC 9162 left-balanced split, without recursion."""
    while len(hashes) > 1:
        paired = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes) - 1, 2)]
        if len(hashes) % 2:
            paired.append(hashes[-1])
        hashes = paired
    return hashes[0]


def _needed(known: _Known, start: int, end: int, out: list[NodeKey]) -> None:
    count = known.count_in(start, end)
    if count == 0:
        out.extend(perfect_cover(start, end))
        return
    if count == end - start:  # every leaf known: nothing to fetch below here
        return
    k = _split(end - start)
    _needed(known, start, start + k, out)
    _needed(known, start + k, end, out)


def _root(known: _Known, start: int, end: int, fetched: Mapping[NodeKey, bytes]) -> bytes:
    count = known.count_in(start, end)
    if count == 0:
        return _fold([fetched[key] for key in perfect_cover(start, end)])
    if count == end - start:  # a contiguous batch: hash it bottom-up in one pass
        return _mth([known.leaves[i] for i in range(start, end)])
    k = _split(end - start)
    return node_hash(_root(known, start, start + k, fetched), _root(known, start + k, end, fetched))


def root_with_leaves(leaves: Mapping[int, bytes], size: int, store: NodeStore) -> bytes:
    """MTH of the tree of ``size`` leaves, taking ``leaves`` (index -> leaf hash) from the
    caller and every other subtree from ``store``. Equal to the signed root iff every
    given leaf is in the signed tree at its index (and the store's nodes are genuine, or
    the root would not match either)."""
    if not leaves or size <= 0:
        raise ValueError("need at least one leaf and a non-empty tree")
    if min(leaves) < 0 or max(leaves) >= size:
        raise ValueError(f"leaf indices must be inside a tree of size {size}")
    known = _Known(leaves)
    keys: list[NodeKey] = []
    _needed(known, 0, size, keys)
    fetched = fetch_nodes(store, list(dict.fromkeys(keys)))
    return _root(known, 0, size, fetched)
