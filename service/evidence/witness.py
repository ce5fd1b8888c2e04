"""Witness cosignatures on the server side: received, checked, kept, handed out.

Custody checks a cosignature before keeping it (it must sign one of this log's
checkpoints, with the key it carries) but decides nothing about who the witness is: the
verifier names the witnesses it trusts (`custody verify-bundle --witness-key`). Each
accepted cosignature is also a ``witness.cosign`` record in the log.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auditlog.chain import record_internal
from service.errors import InvalidInput, NotFound
from service.evidence.cosign import Cosignature, InvalidCosignatureError, verify_cosignature
from service.evidence.models import CheckpointRow, CosignatureRow
from service.evidence.signing import Checkpoint


def _checkpoint_row(session: Session, checkpoint: Checkpoint) -> CheckpointRow | None:
    return session.scalars(
        select(CheckpointRow).where(
            CheckpointRow.tree_size == checkpoint.tree_size,
            CheckpointRow.root_hash == checkpoint.root_hash,
            CheckpointRow.timestamp == checkpoint.timestamp,
            CheckpointRow.key_id == checkpoint.key_id,
            CheckpointRow.signature == checkpoint.signature,
        )
    ).first()


def store(
    *, session: Session, checkpoint: Checkpoint, cosignature: Cosignature
) -> tuple[Cosignature, bool]:
    """Keep ``cosignature`` of ``checkpoint``; (it, True if new). The same witness
    cosigning the same checkpoint again is answered with what is already kept."""
    row = _checkpoint_row(session, checkpoint)
    if row is None:
        raise NotFound("checkpoint: not a checkpoint this log signed")
    try:
        verify_cosignature(cosignature, checkpoint)
    except InvalidCosignatureError as exc:
        raise InvalidInput(
            f"cosignature: {exc}", errors=[{"field": "cosignature", "message": str(exc)}]
        ) from None
    kept = session.scalars(
        select(CosignatureRow).where(
            CosignatureRow.checkpoint_id == row.id,
            CosignatureRow.witness_key_id == cosignature.witness_key_id,
        )
    ).first()
    if kept is not None:
        return _out(kept), False
    session.add(
        CosignatureRow(
            checkpoint_id=row.id,
            tree_size=checkpoint.tree_size,
            root_hash=checkpoint.root_hash,
            received_at=datetime.now(UTC),
            **cosignature.to_dict(),
        )
    )
    record_internal(
        session=session,
        action="witness.cosign",
        actor={"type": "witness", "id": cosignature.witness_key_id},
        resource={"type": "checkpoint", "id": str(row.id)},
        attributes={
            "tree_size": checkpoint.tree_size,
            "root_hash": checkpoint.root_hash,
            "witness_key_id": cosignature.witness_key_id,
            "time": cosignature.time,
        },
    )
    return cosignature, True


def _out(row: CosignatureRow) -> Cosignature:
    return Cosignature(row.witness_key_id, row.witness_public_key, row.time, row.signature)


def for_checkpoint(*, session: Session, checkpoint: Checkpoint) -> list[Cosignature]:
    row = _checkpoint_row(session, checkpoint)
    if row is None:
        return []
    rows = session.scalars(
        select(CosignatureRow)
        .where(CosignatureRow.checkpoint_id == row.id)
        .order_by(CosignatureRow.id)
    )
    return [_out(r) for r in rows]
