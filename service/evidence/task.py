"""The checkpointer: a BackgroundTask that makes the Merkle tree follow the log and
signs checkpoints every N events or T seconds (settings)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from service.auditlog.chain import read_head
from service.config import Settings
from service.db import session_scope
from service.evidence.checkpoints import due, latest, signing_key, store_checkpoint
from service.evidence.store import APPEND_BATCH, append_from_log, read_tree, tree_size


class Checkpointer:
    name = "checkpointer"

    def __init__(self, settings: Settings, *, batch: int = APPEND_BATCH) -> None:
        self.settings = settings
        self.batch = batch

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
                key = signing_key(self.settings.signing_key_path)
                store_checkpoint(session=session, key=key, tree=tree)
        return added > 0

    def _due(self, session: Session, size: int) -> bool:
        return due(
            last=latest(session=session),
            size=size,
            every_events=self.settings.checkpoint_every_events,
            every_seconds=self.settings.checkpoint_every_seconds,
        )


def build(settings: Settings) -> Checkpointer:
    return Checkpointer(settings)

