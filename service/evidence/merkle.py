"""RFC 9162 Merkle tree: hashing, proof generation from a node store, verification.

Hashes are raw 32-byte SHA-256 digests (``bytes``); hex is a presentation concern.

Storage model: a :class:`NodeStore` holds only *perfect* subtrees, addressed as
``(level, index)`` = the subtree over leaves ``[index * 2**level, (index + 1) * 2**level)``;
level 0 holds the leaf hashes. Perfect subtrees never change once complete, so rows are
append-only like the log itself. Every subtree the RFC recursion touches, for any tree
size, starts at a multiple of a power of two at least as large as itself, so its hash is
a right fold over at most ``log2(n)`` perfect subtrees (the binary digits of its width).
Proofs therefore cost O(log n) reads, fetched in one ``get_many`` round trip.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from service.evidence.errors import MissingNodeError

HASH_SIZE = 32
#: MTH({}) per RFC 9162 section 2.1.1: the hash of the empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeKey = tuple[int, int]
"""``(level, index)`` of a perfect subtree."""


@dataclass(frozen=True, slots=True)
class Node:
    """A perfect-subtree hash to persist; covers leaves ``[index << level, (index+1) << level)``."""

    level: int
    index: int
    hash: bytes


class NodeStore(Protocol):
    """Read access to perfect-subtree hashes.

    Implementations return stored hashes only; they never compute partial (ragged)
    subtrees. ``get`` raises :class:`~service.evidence.errors.MissingNodeError` for a key
    it does not hold; ``get_many`` may raise it or leave the key out (callers treat both
    as missing). ``get_many`` exists so a SQL store can answer a whole proof in one round
    trip; proof code only calls ``get_many``. Level-0 rows are the leaf hashes, so a
    store may serve them from the log table instead of duplicating them.
    """

    def get(self, level: int, index: int) -> bytes: ...

    def get_many(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]: ...


class MemoryNodeStore:
    """Dict-backed :class:`NodeStore`, for tests and small tools."""

    def __init__(self) -> None:
        self.nodes: dict[NodeKey, bytes] = {}

    def put_many(self, nodes: Iterable[Node]) -> None:
        for node in nodes:
            self.nodes[(node.level, node.index)] = node.hash

    def get(self, level: int, index: int) -> bytes:
        try:
            return self.nodes[(level, index)]
        except KeyError:
            raise MissingNodeError(level, index) from None

    def get_many(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        return {key: self.get(*key) for key in keys}


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 leaf hash: ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (``n >= 2``): the RFC split point."""
    return 1 << ((n - 1).bit_length() - 1)


# --- Reference implementation: the RFC's recursive definitions over an in-memory list.
# Deliberately naive (O(n) per call); it is the oracle the store-backed code is tested
# against, so it must stay a literal transcription of RFC 9162 sections 2.1.1-2.1.4.


def reference_root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over already-computed leaf hashes (RFC 9162 section 2.1.1)."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


def reference_inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) (RFC 9162 section 2.1.3.1), leaf-side sibling first."""
    if len(leaves) <= 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*reference_inclusion_proof(index, leaves[:k]), reference_root(leaves[k:])]
    return [*reference_inclusion_proof(index - k, leaves[k:]), reference_root(leaves[:k])]


def reference_consistency_proof(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) (RFC 9162 section 2.1.4.1) for ``0 < m < n``; empty otherwise."""
    if not 0 < m < len(leaves):
        return []
    return _reference_subproof(m, leaves, complete=True)


def _reference_subproof(m: int, leaves: Sequence[bytes], *, complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [reference_root(leaves)]
    k = _split(n)
    if m <= k:
        return [*_reference_subproof(m, leaves[:k], complete=complete), reference_root(leaves[k:])]
    return [*_reference_subproof(m - k, leaves[k:], complete=False), reference_root(leaves[:k])]


# --- Store-backed generation. The same recursions as above, but over index ranges, so
# that the set of needed perfect subtrees is known before touching storage.

Range = tuple[int, int]
"""Half-open leaf range ``[start, end)``."""


def perfect_cover(start: int, end: int) -> list[NodeKey]:
    """Perfect subtrees covering ``[start, end)``, largest (leftmost) first.

    Only valid for ranges the RFC recursion produces (``start`` aligned to a power of
    two at least ``end - start``); raises ``ValueError`` otherwise.
    """
    keys: list[NodeKey] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start & ((1 << level) - 1):
            raise ValueError(f"range [{start}, {end}) is not a Merkle subtree")
        keys.append((level, start >> level))
        start += 1 << level
    return keys


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Root of a subtree from its perfect cover: right fold, as the RFC split implies."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def _inclusion_ranges(index: int, start: int, end: int) -> list[Range]:
    ranges: list[Range] = []
    # Walk top-down, then reverse: PATH lists the leaf's sibling first.
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def _consistency_ranges(m: int, start: int, end: int) -> list[Range]:
    ranges: list[Range] = []
    complete = True
    while True:
        n = end - start
        if m == n:
            if not complete:
                ranges.append((start, end))
            break
        k = _split(n)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            m -= k
            start += k
            complete = False
    ranges.reverse()
    return ranges


def fetch_nodes(store: NodeStore, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
    """One ``get_many`` round trip (none for no keys); a key left out is an error."""
    if not keys:
        return {}
    fetched = store.get_many(keys)
    for key in keys:
        if key not in fetched:
            raise MissingNodeError(*key)
    return fetched


def _resolve(ranges: Sequence[Range], store: NodeStore) -> list[bytes]:
    covers = [perfect_cover(start, end) for start, end in ranges]
    fetched = fetch_nodes(store, list(dict.fromkeys(key for cover in covers for key in cover)))
    return [_fold([fetched[key] for key in cover]) for cover in covers]


def inclusion_proof(index: int, size: int, store: NodeStore) -> list[bytes]:
    """Audit path for leaf ``index`` in the tree of ``size`` leaves (RFC 9162 PATH).

    One ``get_many`` call with at most ``2 * log2(size)`` keys.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    return _resolve(_inclusion_ranges(index, 0, size), store)


def consistency_proof(m: int, n: int, store: NodeStore) -> list[bytes]:
    """Consistency proof from size ``m`` to size ``n`` (RFC 9162 PROOF).

    Empty when ``m == n`` or ``m == 0``: there is nothing to prove.
    """
    if not 0 <= m <= n:
        raise ValueError(f"no consistency proof from size {m} to size {n}")
    if m in (0, n):
        return []
    return _resolve(_consistency_ranges(m, 0, n), store)


def root_at(size: int, store: NodeStore) -> bytes:
    """MTH of the first ``size`` leaves, from ``popcount(size)`` stored nodes."""
    if size < 0:
        raise ValueError("tree size cannot be negative")
    if size == 0:
        return EMPTY_ROOT
    return _resolve([(0, size)], store)[0]


# --- Verification: literal transcriptions of RFC 9162 sections 2.1.3.2 and 2.1.4.2.
# Inputs are untrusted, so every failure is ``False``, never an exception.


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """True iff ``proof`` shows ``leaf`` (a leaf hash) at ``index`` in the tree ``root``."""
    if not 0 <= index < size or any(len(p) != HASH_SIZE for p in proof):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    m: int, n: int, root_m: bytes, root_n: bytes, proof: Sequence[bytes]
) -> bool:
    """True iff ``proof`` shows the tree ``root_n`` of size ``n`` extends ``root_m`` of size ``m``.

    Beyond the RFC (which requires ``0 < m < n``): equal sizes are consistent iff the
    roots are equal, and the empty tree is a prefix of every tree; both need an empty proof.
    """
    if not 0 <= m <= n or any(len(p) != HASH_SIZE for p in proof):
        return False
    if m == 0:
        return not proof and root_m == EMPTY_ROOT
    if m == n:
        return not proof and root_m == root_n
    if not proof:
        return False
    path = list(proof)
    if m & (m - 1) == 0:  # m is a power of two: its root is a node of the new tree
        path.insert(0, root_m)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == root_m and sr == root_n and sn == 0
