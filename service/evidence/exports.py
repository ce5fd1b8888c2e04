"""Evidence bundles from the database: a scope's records, each with its inclusion proof
against one signed checkpoint that covers them all (made on demand if none does)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import IO, Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.evidence import witness
from service.evidence.bundle import BundleRecord, InclusionProof, Payload, write_bundle
from service.evidence.checkpoints import Signer, checkpoint_now, covering, to_checkpoint
from service.evidence.incident_scope import anchor_checkpoint, anchor_manifest
from service.evidence.keys import key_fingerprint, public_key_pem
from service.evidence.multiproof import inclusion_proofs
from service.evidence.schemas import Scope
from service.evidence.selection import select_scope
from service.evidence.signing import Checkpoint
from service.evidence.store import SqlNodeStore
from service.logformat import record_from_row

BATCH = 1000


def bundle_record(row: Any) -> BundleRecord:
    payload = None
    if row.payload_body is not None:
        body = orjson.loads(row.payload_body)
        payload = Payload(body["attributes"], body["raw"], bytes.fromhex(row.salt))
    return BundleRecord(record=record_from_row(row), hash=row.hash, payload=payload)


def records_with_proofs(
    session: Session, scope: Scope, size: int
) -> tuple[Iterator[BundleRecord], Iterator[InclusionProof]]:
    """The records of `scope` (up to tree size `size`) and their inclusion proofs in that
    tree, as the two lockstep streams `write_bundle` takes."""
    return _split(_pairs(session, scope, size))


def _pairs(
    session: Session, scope: Scope, size: int
) -> Iterator[tuple[BundleRecord, InclusionProof]]:
    store = SqlNodeStore(session)
    to_seq = size if scope.to_seq is None else min(size, scope.to_seq)
    stmt = select_scope(session=session, scope=scope.model_copy(update={"to_seq": to_seq}))
    result = session.execute(stmt.execution_options(yield_per=BATCH))
    try:
        for rows in result.partitions(BATCH):
            paths = inclusion_proofs([row.seq - 1 for row in rows], size, store)
            for row, path in zip(rows, paths, strict=True):
                yield bundle_record(row), InclusionProof(row.seq - 1, size, path)
    finally:
        result.close()


def _split(
    pairs: Iterator[tuple[BundleRecord, InclusionProof]],
) -> tuple[Iterator[BundleRecord], Iterator[InclusionProof]]:
    """Two iterators over one stream of pairs; write_bundle pulls them in lockstep."""
    pending: deque[InclusionProof] = deque()

    def records() -> Iterator[BundleRecord]:
        for record, proof in pairs:
            pending.append(proof)
            yield record

    return records(), _Proofs(pending)


class _Proofs(Iterator[InclusionProof]):
    """Proofs queued by the records iterator; empty exactly when the records are done."""

    def __init__(self, pending: deque[InclusionProof]) -> None:
        self.pending = pending

    def __next__(self) -> InclusionProof:
        if not self.pending:
            raise StopIteration
        return self.pending.popleft()


def anchoring_checkpoint(
    *, session: Session, scope: Scope, signer: Signer, at_least: int = 0
) -> Checkpoint:
    """The latest checkpoint covering the scope's last record (and ``at_least`` records),
    signing one if none does."""
    sub = select_scope(session=session, scope=scope).subquery()
    last = session.execute(select(func.max(sub.c.seq))).scalar_one_or_none() or 0
    row = covering(session=session, seq=max(last, at_least))
    if row is None or row.key_id != key_fingerprint(signer.key):  # none, or a retired key's
        row = checkpoint_now(session=session, signer=signer)
    return to_checkpoint(row)


def _incident_anchor(
    session: Session, scope: Scope, signer: Signer
) -> tuple[Checkpoint, dict[str, Any]]:
    """(bundle checkpoint, manifest anchor) of an incident-scoped export."""
    assert scope.incident is not None
    incident, anchor = anchor_checkpoint(session=session, incident=scope.incident)
    if anchor is None:  # opened after the last checkpoint: sign the log as it is now
        anchor = to_checkpoint(checkpoint_now(session=session, signer=signer))
    bundle = anchoring_checkpoint(
        session=session, scope=scope, signer=signer, at_least=anchor.tree_size
    )
    manifest = anchor_manifest(session=session, incident=incident, anchor=anchor, bundle=bundle)
    return bundle, manifest


def export_bundle(
    *, session: Session, scope: Scope, signer: Signer, out: IO[bytes]
) -> dict[str, Any]:
    """Write the bundle of ``scope`` to ``out``; return its manifest. An incident's
    bundle also carries the checkpoint its evidence is anchored to (see incident_scope)."""
    anchor: dict[str, Any] | None = None
    if scope.incident:
        checkpoint, anchor = _incident_anchor(session, scope, signer)
    else:
        checkpoint = anchoring_checkpoint(session=session, scope=scope, signer=signer)
    records, proofs = records_with_proofs(session, scope, checkpoint.tree_size)
    return write_bundle(
        out,
        records,
        proofs,
        checkpoint,
        public_key_pem(signer.key),
        scope.as_dict(),
        anchor=anchor,
        cosignatures=witness.for_checkpoint(session=session, checkpoint=checkpoint),
    )
