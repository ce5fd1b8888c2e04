"""The optional anchor of a bundle: a second signed checkpoint (e.g. the one current when
an incident opened) and a consistency proof from it to the bundle's checkpoint.

Verified when the manifest's ``anchor`` carries ``checkpoint`` and ``consistency_path``:
the anchor checkpoint must be signed by a key of the given keyring (keys rotate) and be a
prefix of the bundle's tree (RFC 9162 consistency), and every seq listed in
``evidence_seqs`` must be a record of the bundle (proven by its inclusion proof) and lie
within the anchor's tree size. Then each of those records was in the log, under that
signature, when the anchor was signed. Other anchor shapes are descriptive only and not checked.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from service.evidence.errors import EvidenceError
from service.evidence.merkle import verify_consistency
from service.evidence.signing import Checkpoint, verify_with_keyring

_HEX64 = re.compile(r"[0-9a-f]{64}")


class AnchorFailure(Exception):
    """The anchor does not hold; the message says why."""


def evidence_seqs(anchor: Any) -> set[int]:
    """Seqs the anchor claims as evidence (empty when there is nothing to check)."""
    if not isinstance(anchor, dict) or "checkpoint" not in anchor:
        return set()
    seqs = anchor.get("evidence_seqs", [])
    if not isinstance(seqs, list) or not all(type(s) is int for s in seqs):
        raise AnchorFailure("anchor: evidence_seqs must be a list of integers")
    return set(seqs)


def verify_anchor(
    anchor: Any, bundle: Checkpoint, public_keys: Sequence[Ed25519PublicKey], found: set[int]
) -> str | None:
    """Raise AnchorFailure, or return a one-line description of what was proven."""
    if not isinstance(anchor, dict) or "checkpoint" not in anchor:
        return None
    try:
        checkpoint = Checkpoint.from_dict(anchor["checkpoint"])
        verify_with_keyring(public_keys, checkpoint)
    except EvidenceError as exc:
        raise AnchorFailure(f"anchor checkpoint: {exc}") from None
    path = anchor.get("consistency_path")
    if not isinstance(path, list) or not all(
        isinstance(p, str) and _HEX64.fullmatch(p) for p in path
    ):
        raise AnchorFailure("anchor: consistency_path must be a list of 64-hex hashes")
    m, n = checkpoint.tree_size, bundle.tree_size
    roots = checkpoint.root_hash_bytes, bundle.root_hash_bytes
    if m > n or not verify_consistency(m, n, *roots, [bytes.fromhex(p) for p in path]):
        raise AnchorFailure(
            f"anchor checkpoint (tree size {m}) is not a prefix of the bundle's (tree size {n})"
        )
    claimed = evidence_seqs(anchor)
    missing = sorted(claimed - found)
    if missing:
        raise AnchorFailure(f"anchor: evidence seq {missing[0]} is not among the bundle's records")
    late = sorted(s for s in claimed if s > m)
    if late:
        raise AnchorFailure(f"anchor: evidence seq {late[0]} is after the anchor checkpoint")
    label = anchor.get("incident") or "anchor"
    return (
        f"{label}: {len(claimed)} evidence records were in the log under the checkpoint "
        f"of tree size {m} signed {checkpoint.timestamp}"
    )
