"""Exceptions raised by the evidence core.

Everything here derives from :class:`EvidenceError` so callers (API error handlers,
the CLI) can map the whole family in one place.
"""

from __future__ import annotations


class EvidenceError(Exception):
    """Base class for evidence (Merkle, signing, bundle) errors."""


class MissingNodeError(EvidenceError, LookupError):
    """A :class:`~service.evidence.merkle.NodeStore` has no hash for a requested subtree."""

    def __init__(self, level: int, index: int) -> None:
        super().__init__(f"no stored Merkle node at level {level}, index {index}")
        self.level = level
        self.index = index


class KeyFileError(EvidenceError):
    """The signing key file cannot be used (unreadable, wrong type, insecure mode)."""


class InvalidCheckpointError(EvidenceError):
    """A checkpoint is malformed or its signature does not verify."""


class InconsistentCheckpointsError(EvidenceError):
    """Two checkpoints are not proven to be views of the same append-only log."""


class InvalidPublicKeyError(EvidenceError):
    """A public key given for verification is not a PEM Ed25519 key."""
