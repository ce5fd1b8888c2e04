"""Store-backed proofs and RFC 9162 verifiers against the literal RFC recursion."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.evidence.errors import MissingNodeError
from service.evidence.incremental import IncrementalTree
from service.evidence.merkle import (
    EMPTY_ROOT,
    MemoryNodeStore,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    perfect_cover,
    reference_consistency_proof,
    reference_inclusion_proof,
    reference_root,
    root_at,
    verify_consistency,
    verify_inclusion,
)

MAX_EXHAUSTIVE = 70

# Certificate Transparency test vectors (RFC 6962 test data, used by every CT library):
# they pin our hashing to the rest of the world, not just to our own reference code.
CT_DATA = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
           "606162636465666768696a6b6c6d6e6f"]  # fmt: skip
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip
CT_CONSISTENCY = [
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip


def make_leaves(n: int) -> list[bytes]:
    return [leaf_hash(f"record {i}".encode()) for i in range(n)]


def build_store(leaves: list[bytes]) -> MemoryNodeStore:
    store = MemoryNodeStore()
    store.put_many(IncrementalTree().append(leaves))
    return store


@pytest.fixture(scope="module")
def leaves() -> list[bytes]:
    return make_leaves(MAX_EXHAUSTIVE)


@pytest.fixture(scope="module")
def store(leaves: list[bytes]) -> MemoryNodeStore:
    return build_store(leaves)


def test_hash_domain_separation() -> None:
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    left, right = b"a" * 32, b"b" * 32
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert reference_root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


def test_certificate_transparency_vectors() -> None:
    leaves = [leaf_hash(bytes.fromhex(d)) for d in CT_DATA]
    store = build_store(leaves)
    for size, root in enumerate(CT_ROOTS):
        assert root_at(size, store).hex() == root
        assert reference_root(leaves[:size]).hex() == root
    for index, size, path in CT_INCLUSION:
        proof = inclusion_proof(index, size, store)
        assert [p.hex() for p in proof] == path
        assert verify_inclusion(leaves[index], index, size, proof, bytes.fromhex(CT_ROOTS[size]))
    for m, n, path in CT_CONSISTENCY:
        proof = consistency_proof(m, n, store)
        assert [p.hex() for p in proof] == path
        roots = bytes.fromhex(CT_ROOTS[m]), bytes.fromhex(CT_ROOTS[n])
        assert verify_consistency(m, n, *roots, proof)


def test_known_root_for_three_leaves() -> None:
    a, b, c = (leaf_hash(x) for x in (b"a", b"b", b"c"))
    assert reference_root([a, b, c]) == node_hash(node_hash(a, b), c)


def test_root_at_and_incremental_root_match_reference_at_every_size(
    leaves: list[bytes], store: MemoryNodeStore
) -> None:
    tree = IncrementalTree()
    assert tree.root() == EMPTY_ROOT == root_at(0, store)
    for size in range(1, MAX_EXHAUSTIVE + 1):
        tree.append([leaves[size - 1]])
        expected = reference_root(leaves[:size])
        assert tree.root() == expected
        assert root_at(size, store) == expected
        assert len(tree.frontier) == size.bit_count()


def test_inclusion_proofs_match_reference_for_every_index(
    leaves: list[bytes], store: MemoryNodeStore
) -> None:
    for size in range(1, MAX_EXHAUSTIVE + 1):
        root = reference_root(leaves[:size])
        for index in range(size):
            proof = inclusion_proof(index, size, store)
            assert proof == reference_inclusion_proof(index, leaves[:size])
            assert verify_inclusion(leaves[index], index, size, proof, root)
            other = (index + 1) % size
            if other != index:
                assert not verify_inclusion(leaves[other], index, size, proof, root)


def test_consistency_proofs_match_reference_for_every_pair(
    leaves: list[bytes], store: MemoryNodeStore
) -> None:
    roots = [reference_root(leaves[:size]) for size in range(MAX_EXHAUSTIVE + 1)]
    for n in range(1, MAX_EXHAUSTIVE + 1):
        for m in range(n + 1):
            proof = consistency_proof(m, n, store)
            assert proof == reference_consistency_proof(m, leaves[:n])
            assert verify_consistency(m, n, roots[m], roots[n], proof)
            if 0 < m < n:
                assert not verify_consistency(m, n, roots[m - 1], roots[n], proof)
                assert not verify_consistency(m, n, roots[m], roots[n - 1], proof)


def test_every_tampered_proof_element_is_rejected(
    leaves: list[bytes], store: MemoryNodeStore
) -> None:
    size = 37
    root = reference_root(leaves[:size])
    for index in range(size):
        proof = inclusion_proof(index, size, store)
        for i in range(len(proof)):
            bad = [*proof]
            bad[i] = bytes(32)
            assert not verify_inclusion(leaves[index], index, size, bad, root)
        assert not verify_inclusion(leaves[index], index, size, proof[:-1], root)
        assert not verify_inclusion(leaves[index], index, size, [*proof, bytes(32)], root)


@pytest.mark.parametrize(
    ("m", "n", "root_m", "proof"),
    [
        (5, 4, EMPTY_ROOT, []),  # shrinking is never consistent
        (0, 4, b"x" * 32, []),  # the empty tree has exactly one root
        (3, 3, b"y" * 32, []),  # equal sizes need equal roots
        (3, 7, b"y" * 32, []),  # 0 < m < n needs a proof
        (3, 7, b"y" * 32, [b"short"]),  # malformed hash
    ],
)
def test_consistency_edge_cases_rejected(m: int, n: int, root_m: bytes, proof: list[bytes]) -> None:
    leaves = make_leaves(max(m, n))
    assert not verify_consistency(m, n, root_m, reference_root(leaves[:n]), proof)


def test_invalid_arguments_raise() -> None:
    store = build_store(make_leaves(4))
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof(4, 4, store)
    with pytest.raises(ValueError, match="no consistency proof"):
        consistency_proof(5, 4, store)
    with pytest.raises(MissingNodeError):
        root_at(5, store)
    with pytest.raises(ValueError, match="not a Merkle subtree"):
        perfect_cover(1, 3)
    with pytest.raises(ValueError, match="frontier"):
        IncrementalTree(3, [bytes(32)])


def test_resume_from_store_continues_the_same_tree() -> None:
    leaves = make_leaves(53)
    store = build_store(leaves[:29])
    tree = IncrementalTree.from_store(29, store)
    store.put_many(tree.append(leaves[29:]))
    assert tree.root() == reference_root(leaves)
    assert root_at(53, store) == reference_root(leaves)
    assert IncrementalTree(tree.size, tree.frontier).root() == tree.root()


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n=st.integers(min_value=71, max_value=3000))
def test_random_larger_trees(data: st.DataObject, n: int) -> None:
    leaves = make_leaves(n)
    store = build_store(leaves)
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    m = data.draw(st.integers(min_value=0, max_value=n))
    root_n, root_m = reference_root(leaves), reference_root(leaves[:m])
    assert root_at(n, store) == root_n
    assert root_at(m, store) == root_m
    proof = inclusion_proof(index, n, store)
    assert proof == reference_inclusion_proof(index, leaves)
    assert verify_inclusion(leaves[index], index, n, proof, root_n)
    cproof = consistency_proof(m, n, store)
    assert cproof == reference_consistency_proof(m, leaves)
    assert verify_consistency(m, n, root_m, root_n, cproof)
