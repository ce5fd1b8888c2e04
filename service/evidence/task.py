"""The checkpointer: a BackgroundTask that makes the Merkle tree follow the log and
signs checkpoints every N events or T seconds (settings).

It never signs a tree that does not extend the last signed checkpoint (see
:mod:`.guard`): the refusal is logged (``checkpoint.refused``, an error), shown by
``/readyz`` and the ``custody_checkpoint_consistent`` gauge, and retried (and logged
again) every ``checkpoint_every_seconds`` while the tree keeps following the log.
"""

from __future__ import annotations

import time

from sqlalchemy.orm import Session, sessionmaker

from service.auditlog.chain import read_head
from service.config import Settings
from service.db import session_scope
from service.evidence.checkpoints import due, latest, signer, store_checkpoint
from service.evidence.guard import CheckpointRefused
from service.evidence.store import APPEND_BATCH, append_from_log, read_tree, tree_size


class Checkpointer:
    name = "checkpointer"

    def __init__(self, settings: Settings, *, batch: int = APPEND_BATCH) -> None:
        self.settings = settings
        self.batch = batch
        self.refused_at: float | None = None

    def run_once(self, factory: sessionmaker[Session]) -> bool:
        """Append one batch of records to the tree and sign if a checkpoint is due; one
        transaction, so nodes, state and checkpoint commit together."""
        with session_scope(factory) as session:
            # Look before locking: on SQLite the lock is the database write lock, and an
            # idle poll must not contend with ingest for it.
            size = tree_size(session)
            if size >= read_head(session)[0] and not self._due(session, size):
                return False
            tree = read_tree(session, lock=True)
            added = append_from_log(session=session, tree=tree, limit=self.batch)
            if self._due(session, tree.size):
                try:
                    store_checkpoint(
                        session=session, signer=signer(self.settings.signing_key_path), tree=tree
                    )
                    self.refused_at = None
                except CheckpointRefused:
                    # Logged by store_checkpoint. The tree still follows the log (the
                    # refusal wrote nothing), so an investigator sees what would be signed.
                    self.refused_at = time.monotonic()
        return added > 0

    def _due(self, session: Session, size: int) -> bool:
        if (
            self.refused_at is not None
            and time.monotonic() - self.refused_at < self.settings.checkpoint_every_seconds
        ):
            return False
        return due(
            last=latest(session=session),
            size=size,
            every_events=self.settings.checkpoint_every_events,
            every_seconds=self.settings.checkpoint_every_seconds,
        )


def build(settings: Settings) -> Checkpointer:
    return Checkpointer(settings)

