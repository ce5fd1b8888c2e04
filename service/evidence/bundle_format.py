"""Evidence bundle format, version 1: member names, entry types, JSON conventions.

A bundle is a zip archive::

    manifest.json     what this is: format, scope, counts, key id, checkpoint, anchor
    checkpoint.json   the signed checkpoint every proof leads to
    records.ndjson    one log record per line, in increasing seq order:
                      {"hash": hex, "record": {...exactly as hashed...},
                       "payload": {"attributes", "raw", "salt": hex}}  (payload optional)
    proofs.ndjson     line i is the inclusion proof for line i of records.ndjson:
                      {"seq", "leaf_index", "tree_size", "path": [hex, ...]}
    README.txt        how to verify by hand
    cosignatures.json witnesses' cosignatures of checkpoint.json (a list; may be empty;
                      absent from bundles written before witnessing)

Records need not be contiguous: an export of one actor's trail has gaps. Chain links are
checked only where consecutive lines have consecutive seqs; the inclusion proofs tie
every record, gaps or not, to the signed root.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

FORMAT_NAME = "custody-evidence-bundle"
FORMAT_VERSION = 1

MANIFEST = "manifest.json"
CHECKPOINT = "checkpoint.json"
RECORDS = "records.ndjson"
PROOFS = "proofs.ndjson"
README = "README.txt"
COSIGNATURES = "cosignatures.json"
REQUIRED_MEMBERS = (MANIFEST, CHECKPOINT, RECORDS, PROOFS)

#: Self-description copied into the manifest, so a reader needs no other document.
HASHING = {
    "canonicalization": "RFC 8785 JSON Canonicalization Scheme of the record object",
    "record_hash": "hex(SHA-256(bytes.fromhex(record.prev_hash) || JCS(record)))",
    "genesis_prev_hash": "64 zeros (record seq 1)",
    "payload_digest": "hex(SHA-256(salt || JCS({'attributes': ..., 'raw': ...})))",
    "merkle": "RFC 9162: leaf = SHA-256(0x00 || JCS(record)), node = SHA-256(0x01 || l || r)",
    "leaf_index": "seq - 1",
}


@dataclass(frozen=True, slots=True)
class Payload:
    """The erasable part of an event, with the salt that makes its digest unguessable."""

    attributes: Any
    raw: Any
    salt: bytes


@dataclass(frozen=True, slots=True)
class BundleRecord:
    """One stored log row: ``record`` exactly as hashed (without ``hash``), and its hash."""

    record: dict[str, Any]
    hash: str
    payload: Payload | None = None

    @property
    def seq(self) -> int:
        seq = self.record["seq"]
        if type(seq) is not int:
            raise ValueError("record seq must be an integer")
        return seq


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """Audit path of leaf ``leaf_index`` (= seq - 1) in the tree of ``tree_size`` leaves."""

    leaf_index: int
    tree_size: int
    path: Sequence[bytes]


def dumps_line(value: Any) -> bytes:
    """One NDJSON line. Strict JSON only: NaN/Infinity have no JSON (nor JCS) form."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode("utf-8") + b"\n"


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # With duplicate keys a human and a parser may read different values; refuse.
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key in JSON object")
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads_strict(data: bytes) -> Any:
    """Parse untrusted JSON: UTF-8 only, no duplicate keys, no NaN/Infinity."""
    return json.loads(
        data.decode("utf-8"),
        object_pairs_hook=_reject_duplicates,
        parse_constant=_reject_constant,
    )
