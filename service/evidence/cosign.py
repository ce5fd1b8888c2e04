"""Witness cosignatures of checkpoints, in the model of C2SP tlog-cosignature.

A witness is an auditor's own Ed25519 key. It cosigns a checkpoint only after checking
that the checkpoint carries the log's signature and is a consistent extension of the
last one it cosigned (C2SP tlog-witness), so a log that shows two different histories
to two parties, or rewrites its own, cannot get both cosigned. The signed message is the
checkpoint's own signed message after a header that names the cosignature version and
the time of cosigning (seconds since the Unix epoch)::

    cosignature/v1
    time <seconds>
    custody-checkpoint/v1
    <tree_size>
    <root_hash>
    <timestamp>

A cosignature is ``{"witness_key_id", "witness_public_key", "time", "signature"}``:
``witness_key_id`` is the hex SHA-256 of the raw public key (as for the log's own key),
``signature`` standard base64. Pure code: no database, no HTTP.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from service.evidence.errors import EvidenceError
from service.evidence.keys import key_fingerprint, load_public_key, public_key_pem
from service.evidence.signing import Checkpoint

COSIGNATURE_HEADER = "cosignature/v1"


class InvalidCosignatureError(EvidenceError):
    """A cosignature is malformed or does not verify."""


def cosigned_message(checkpoint: Checkpoint, time: int) -> bytes:
    return f"{COSIGNATURE_HEADER}\ntime {time}\n".encode("ascii") + checkpoint.message()


@dataclass(frozen=True, slots=True)
class Cosignature:
    witness_key_id: str
    witness_public_key: str
    time: int
    signature: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cosignature:
        fields = {"witness_key_id", "witness_public_key", "time", "signature"}
        if not isinstance(data, Mapping) or set(data) != fields:
            raise InvalidCosignatureError(f"a cosignature has exactly {sorted(fields)}")
        if type(data["time"]) is not int or data["time"] < 0:
            raise InvalidCosignatureError("cosignature time must be a non-negative integer")
        if not all(isinstance(data[f], str) for f in fields - {"time"}):
            raise InvalidCosignatureError("cosignature fields must be strings")
        return cls(**data)


def cosign(key: Ed25519PrivateKey, checkpoint: Checkpoint, time: int) -> Cosignature:
    return Cosignature(
        witness_key_id=key_fingerprint(key),
        witness_public_key=public_key_pem(key).decode("ascii"),
        time=time,
        signature=base64.b64encode(key.sign(cosigned_message(checkpoint, time))).decode(),
    )


def verify_cosignature(
    cosignature: Cosignature, checkpoint: Checkpoint, witness: Ed25519PublicKey | None = None
) -> None:
    """Raise InvalidCosignatureError unless ``cosignature`` signs ``checkpoint``, with
    ``witness`` if given (what a verifier trusts), else with the key it carries (what the
    server can check on receipt), and its key id is that key's."""
    try:
        key = witness or load_public_key(cosignature.witness_public_key)
    except EvidenceError as exc:
        raise InvalidCosignatureError(f"witness public key: {exc}") from None
    if key_fingerprint(key) != cosignature.witness_key_id:
        raise InvalidCosignatureError("witness_key_id is not the witness key's fingerprint")
    try:
        raw = base64.b64decode(cosignature.signature, validate=True)
        key.verify(raw, cosigned_message(checkpoint, cosignature.time))
    except (binascii.Error, ValueError, InvalidSignature):
        raise InvalidCosignatureError(
            f"cosignature by witness {cosignature.witness_key_id[:16]} does not verify"
        ) from None
