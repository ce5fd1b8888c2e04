"""Anchors that mean what they say: when incidents open, a checkpoint covering their
``incident.open`` records is signed in the same transaction, so each incident's
``anchor_checkpoint`` is the signed log exactly as it stood when it opened.

One checkpoint per transaction, however many incidents it opens (a rules batch opening
fifty incidents signs once). If the guard refuses to sign (the database no longer extends
the last signed checkpoint; logged as ``checkpoint.refused``), the incidents open anyway
and stay unanchored: an alert must not be lost because the log was tampered with (or the
key file is unusable).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from service.evidence.checkpoints import checkpoint_now, signer, to_checkpoint
from service.evidence.errors import EvidenceError
from service.evidence.guard import CheckpointRefused
from service.evidence.signing import Checkpoint
from service.logging import get_logger

log = get_logger(__name__)


def anchor_opened(*, session: Session, key_path: Path) -> Checkpoint | None:
    """Sign the log up to this transaction's last record; every incident opened up to
    it and not anchored yet gets this checkpoint (see ``fill_anchors``)."""
    try:
        row = checkpoint_now(session=session, signer=signer(key_path))
    except CheckpointRefused:
        return None  # logged as checkpoint.refused
    except (EvidenceError, OSError):
        # An unusable key file must not stop detection: the incidents open, unanchored,
        # and the export of one signs when the key is back.
        log.error("incident.anchor_failed", key_path=str(key_path), exc_info=True)
        return None
    return to_checkpoint(row)
