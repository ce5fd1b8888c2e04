"""Hashes of a log record: canonical bytes, chain hash, Merkle leaf, payload digest.

These definitions are the log format; changing any of them breaks every existing chain.
They use the ``rfc8785`` package (the reference JCS implementation) so that an offline
verifier reproduces them exactly; the ingest path may use a faster encoder only if it
is proven byte-identical.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import rfc8785

from service.evidence.merkle import leaf_hash

#: ``prev_hash`` of the record with seq 1: 32 zero bytes, hex.
GENESIS_PREV_HASH = "0" * 64

#: Raised by :func:`canonical` for values outside I-JSON (huge integers, NaN, ...).
CanonicalizationError = rfc8785.CanonicalizationError


def canonical(value: Mapping[str, Any]) -> bytes:
    """RFC 8785 (JCS) bytes of a JSON object; the record here never includes ``hash``."""
    return rfc8785.dumps(value)


def chain_hash(prev_hash: str, canonical_record: bytes) -> str:
    """``hex(SHA-256(bytes.fromhex(prev_hash) || canonical(record)))``."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical_record).hexdigest()


def record_leaf_hash(canonical_record: bytes) -> bytes:
    """Merkle leaf for a record: ``SHA-256(0x00 || canonical(record))``; leaf index = seq - 1."""
    return leaf_hash(canonical_record)


def payload_digest(salt: bytes, attributes: Any, raw: Any) -> str:
    """``hex(SHA-256(salt || canonical({"attributes": attributes, "raw": raw})))``.

    Both keys are always present (``null`` when absent), so the digest depends only on
    the two values. The random per-event salt stops anyone holding only the record from
    confirming a guessed payload once it has been erased.
    """
    return hashlib.sha256(salt + canonical({"attributes": attributes, "raw": raw})).hexdigest()
