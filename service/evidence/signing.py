"""Signed checkpoints (signed tree heads) over the log's Merkle tree.

A checkpoint is ``{"tree_size", "root_hash", "timestamp", "key_id", "signature"}``.
The Ed25519 signature covers exactly these ASCII bytes (in the spirit of a C2SP
tlog-checkpoint body; every line ends with a newline, including the last)::

    custody-checkpoint/v1
    <tree_size, decimal, no leading zeros>
    <root_hash, 64 lowercase hex characters>
    <timestamp, RFC 3339 UTC: YYYY-MM-DDTHH:MM:SS[.ffffff]Z>

``key_id`` (hex SHA-256 of the raw public key) is not signed: it only names the key
to try, and verification refuses a checkpoint whose key_id is not the verifying key's.
``signature`` is standard base64 (with padding) of the 64-byte signature.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from service.evidence.errors import InconsistentCheckpointsError, InvalidCheckpointError
from service.evidence.keys import key_fingerprint
from service.evidence.merkle import HASH_SIZE, verify_consistency

CHECKPOINT_HEADER = "custody-checkpoint/v1"
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_FIELDS = frozenset({"tree_size", "root_hash", "timestamp", "key_id", "signature"})


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds, e.g. ``2026-11-30T12:00:01.000000Z``."""
    if moment.tzinfo is None:
        raise ValueError("checkpoint timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def checkpoint_message(tree_size: int, root_hash: str, timestamp: str) -> bytes:
    """The exact bytes signed for a checkpoint (see the module docstring)."""
    return f"{CHECKPOINT_HEADER}\n{tree_size}\n{root_hash}\n{timestamp}\n".encode("ascii")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed tree head. Construct with :func:`sign_checkpoint` or :meth:`from_dict`."""

    tree_size: int
    root_hash: str
    timestamp: str
    key_id: str
    signature: str

    def __post_init__(self) -> None:
        # Validate on construction so a Checkpoint in hand is always well-formed and
        # its message is unambiguous (no "+1", "01", upper-case hex, or odd timestamps).
        if type(self.tree_size) is not int or self.tree_size < 0:
            raise InvalidCheckpointError("checkpoint tree_size must be a non-negative integer")
        for name in ("root_hash", "key_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _HEX64.fullmatch(value):
                raise InvalidCheckpointError(f"checkpoint {name} must be 64 lowercase hex digits")
        if not isinstance(self.timestamp, str) or not _TIMESTAMP.fullmatch(self.timestamp):
            raise InvalidCheckpointError("checkpoint timestamp must be RFC 3339 UTC ('...Z')")
        try:
            datetime.fromisoformat(self.timestamp)
        except ValueError as exc:
            raise InvalidCheckpointError("checkpoint timestamp is not a valid date") from exc
        if not isinstance(self.signature, str):
            raise InvalidCheckpointError("checkpoint signature must be a base64 string")

    @property
    def root_hash_bytes(self) -> bytes:
        return bytes.fromhex(self.root_hash)

    def message(self) -> bytes:
        return checkpoint_message(self.tree_size, self.root_hash, self.timestamp)

    def to_dict(self) -> dict[str, int | str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Checkpoint:
        """Parse untrusted JSON; raises :class:`InvalidCheckpointError` on any deviation."""
        if not isinstance(data, Mapping) or set(data) != _FIELDS:
            raise InvalidCheckpointError(f"checkpoint must have exactly {sorted(_FIELDS)}")
        return cls(**data)  # type: ignore[arg-type]  # types are checked in __post_init__


def sign_checkpoint(
    key: Ed25519PrivateKey,
    tree_size: int,
    root_hash: bytes,
    timestamp: datetime | None = None,
) -> Checkpoint:
    """Sign the tree head ``(tree_size, root_hash)`` at ``timestamp`` (default: now)."""
    if len(root_hash) != HASH_SIZE:
        raise ValueError("root_hash must be a 32-byte digest")
    stamp = format_timestamp(timestamp or datetime.now(UTC))
    message = checkpoint_message(tree_size, root_hash.hex(), stamp)
    return Checkpoint(
        tree_size=tree_size,
        root_hash=root_hash.hex(),
        timestamp=stamp,
        key_id=key_fingerprint(key),
        signature=base64.b64encode(key.sign(message)).decode("ascii"),
    )


def verify_checkpoint(public_key: Ed25519PublicKey, checkpoint: Checkpoint) -> None:
    """Return if ``checkpoint`` is signed by ``public_key``; else raise InvalidCheckpointError."""
    try:
        signature = base64.b64decode(checkpoint.signature, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidCheckpointError("checkpoint signature is not valid base64") from exc
    try:
        public_key.verify(signature, checkpoint.message())
    except InvalidSignature:
        raise InvalidCheckpointError("checkpoint signature invalid for this public key") from None
    if checkpoint.key_id != key_fingerprint(public_key):
        raise InvalidCheckpointError("checkpoint key_id does not match this public key")


def verify_with_keyring(keys: Sequence[Ed25519PublicKey], checkpoint: Checkpoint) -> None:
    """Verify with the key among ``keys`` that ``checkpoint.key_id`` names (keys rotate:
    a keyring holds the current and retired ones); InvalidCheckpointError if none."""
    for key in keys:
        if key_fingerprint(key) == checkpoint.key_id:
            verify_checkpoint(key, checkpoint)
            return
    raise InvalidCheckpointError(
        f"checkpoint key_id {checkpoint.key_id} is not among the given public keys"
    )


def checkpoint_is_valid(public_key: Ed25519PublicKey, checkpoint: Checkpoint) -> bool:
    """Boolean form of :func:`verify_checkpoint`."""
    try:
        verify_checkpoint(public_key, checkpoint)
    except InvalidCheckpointError:
        return False
    return True


def verify_consistency_with_checkpoint(
    old_checkpoint: Checkpoint,
    new_checkpoint: Checkpoint,
    proof: Sequence[bytes],
    public_key: Ed25519PublicKey | Sequence[Ed25519PublicKey],
) -> None:
    """Auditor check: both checkpoints are genuine and ``new`` extends ``old``. With a
    keyring (a sequence of keys), each is verified with the key it names.

    Raises :class:`InvalidCheckpointError` for a bad signature and
    :class:`InconsistentCheckpointsError` when the log was rewritten or truncated:
    either is evidence worth keeping, since both checkpoints carry the log's signature.
    """
    keys = [public_key] if isinstance(public_key, Ed25519PublicKey) else list(public_key)
    verify_with_keyring(keys, old_checkpoint)
    verify_with_keyring(keys, new_checkpoint)
    m, n = old_checkpoint.tree_size, new_checkpoint.tree_size
    if m > n:
        raise InconsistentCheckpointsError(
            f"newer checkpoint has fewer records ({n}) than the older one ({m})"
        )
    roots = old_checkpoint.root_hash_bytes, new_checkpoint.root_hash_bytes
    if not verify_consistency(m, n, *roots, proof):
        raise InconsistentCheckpointsError(
            f"consistency proof from tree size {m} to {n} does not match the signed roots"
        )
