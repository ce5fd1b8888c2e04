"""Append-side of the Merkle tree: the frontier and the perfect-subtree rows to persist.

The frontier of a tree of size ``n`` is the perfect cover of ``[0, n)``: one perfect
subtree per set bit of ``n``, largest first. It is all an appender needs to keep in
memory (at most ``log2(n)`` hashes), and folding it gives the current root.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from service.evidence.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    Node,
    NodeStore,
    fetch_nodes,
    node_hash,
    perfect_cover,
)


class IncrementalTree:
    """Appends leaf hashes, emitting every perfect subtree they complete.

    The caller persists the emitted :class:`Node` rows (in the same transaction as the
    leaves) so a :class:`NodeStore` can later serve proofs for any size up to ``size``.
    """

    def __init__(self, size: int = 0, frontier: Sequence[bytes] = ()) -> None:
        """``frontier`` holds the right-edge perfect-subtree hashes, largest first."""
        if size < 0:
            raise ValueError("tree size cannot be negative")
        if len(frontier) != size.bit_count():
            raise ValueError(f"a tree of size {size} has {size.bit_count()} frontier hashes")
        if any(len(h) != HASH_SIZE for h in frontier):
            raise ValueError("frontier hashes must be 32-byte digests")
        levels = [level for level, _ in perfect_cover(0, size)]
        # (level, hash) pairs; the level is implied by size but carrying it keeps
        # the carry loop in append() simple.
        self._frontier: list[tuple[int, bytes]] = list(zip(levels, frontier, strict=True))
        self._size = size

    @classmethod
    def from_store(cls, size: int, store: NodeStore) -> IncrementalTree:
        """Resume from persisted nodes with one ``get_many`` of ``popcount(size)`` keys."""
        keys = perfect_cover(0, size)
        fetched = fetch_nodes(store, keys)
        return cls(size, [fetched[key] for key in keys])

    @property
    def size(self) -> int:
        return self._size

    @property
    def frontier(self) -> tuple[bytes, ...]:
        """Right-edge perfect-subtree hashes, largest first (persist to resume cheaply)."""
        return tuple(h for _, h in self._frontier)

    def append(self, leaf_hashes: Iterable[bytes]) -> list[Node]:
        """Add leaves in order; return the new perfect subtrees (level 0 = the leaves).

        Works like binary increment: a new leaf is a level-0 subtree, and while the
        smallest frontier subtree has the same level, the two merge into their parent.
        """
        new_nodes: list[Node] = []
        for leaf in leaf_hashes:
            if len(leaf) != HASH_SIZE:
                raise ValueError("leaf hashes must be 32-byte digests")
            level, index, carry = 0, self._size, leaf
            new_nodes.append(Node(level, index, carry))
            while self._frontier and self._frontier[-1][0] == level:
                _, left = self._frontier.pop()
                carry = node_hash(left, carry)
                level, index = level + 1, index >> 1
                new_nodes.append(Node(level, index, carry))
            self._frontier.append((level, carry))
            self._size += 1
        return new_nodes

    def root(self) -> bytes:
        """MTH of the current tree, computed from the frontier alone."""
        if not self._frontier:
            return EMPTY_ROOT
        result = self._frontier[-1][1]
        for _, left in reversed(self._frontier[:-1]):
            result = node_hash(left, result)
        return result
