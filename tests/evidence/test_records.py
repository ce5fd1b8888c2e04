"""Record hash definitions, pinned to hand-computed values."""

from __future__ import annotations

import hashlib

import pytest

from service.evidence.merkle import leaf_hash
from service.evidence.records import (
    GENESIS_PREV_HASH,
    CanonicalizationError,
    canonical,
    chain_hash,
    payload_digest,
    record_leaf_hash,
)


def test_canonical_is_jcs() -> None:
    # Sorted keys, no whitespace, integral floats without ".0", raw UTF-8.
    assert canonical({"b": 100.0, "a": [1, None], "é": "ü"}) == (
        '{"a":[1,null],"b":100,"é":"ü"}'.encode()
    )


def test_canonical_refuses_numbers_outside_i_json() -> None:
    with pytest.raises(CanonicalizationError):
        canonical({"n": 2**53})


def test_chain_and_leaf_hashes() -> None:
    body = canonical({"seq": 1, "prev_hash": GENESIS_PREV_HASH})
    assert chain_hash(GENESIS_PREV_HASH, body) == hashlib.sha256(bytes(32) + body).hexdigest()
    assert record_leaf_hash(body) == leaf_hash(body) == hashlib.sha256(b"\x00" + body).digest()


def test_payload_digest_covers_salt_and_both_fields() -> None:
    salt = bytes(range(16))
    expected = hashlib.sha256(salt + b'{"attributes":{"k":1},"raw":null}').hexdigest()
    assert payload_digest(salt, {"k": 1}, None) == expected
    assert payload_digest(bytes(16), {"k": 1}, None) != expected
