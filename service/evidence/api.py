"""Routes of the signed log: public key, checkpoints, inclusion and consistency proofs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auditlog.schemas import MAX_SEQ
from service.auth.deps import require
from service.auth.schemas import Principal, Scope
from service.config import Settings
from service.deps import get_session, get_settings
from service.errors import InvalidInput, NotFound
from service.evidence import checkpoints, keyring, proofs, witness
from service.evidence.cosign import Cosignature
from service.evidence.errors import EvidenceError
from service.evidence.models import CheckpointRow
from service.evidence.schemas import (
    CheckpointIn,
    CheckpointOut,
    CheckpointPage,
    ConsistencyProofOut,
    CosignatureBody,
    CosignatureIn,
    CosignaturePage,
    InclusionProofOut,
)
from service.evidence.signing import Checkpoint

router = APIRouter(prefix="/v1/log", tags=["evidence"])
PEM = "application/x-pem-file"


def _out(row: CheckpointRow) -> CheckpointOut:
    return CheckpointOut.model_validate(row, from_attributes=True)


@router.get(
    "/public-key",
    response_class=Response,
    responses={200: {"content": {PEM: {}, "application/json": {}}}},
)
def get_public_key(
    request: Request,
    _: Principal = Depends(require(Scope.read)),
    settings: Settings = Depends(get_settings),
    session: Session = Depends(get_session),
) -> Response:
    """The Ed25519 public keys (SubjectPublicKeyInfo PEM) that sign checkpoints: the
    current one first, then retired ones, each after a ``# key_id ...`` comment line.
    With ``Accept: application/json``: ``{"current": {...}, "retired": [...]}``."""
    key = checkpoints.signing_key(settings.signing_key_path)
    current, retired = keyring.listing(session, key, settings.signing_key_path)
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(
            {"current": current.to_dict(), "retired": [r.to_dict() for r in retired]}
        )
    return Response(keyring.keyring_pem(current, retired), media_type=PEM)


@router.get("/checkpoints/latest", response_model=CheckpointOut)
def get_latest_checkpoint(
    _: Principal = Depends(require(Scope.read)), session: Session = Depends(get_session)
) -> CheckpointOut:
    row = checkpoints.latest(session=session)
    if row is None:
        raise NotFound("No checkpoint yet")
    return _out(row)


@router.get("/checkpoints", response_model=CheckpointPage)
def list_checkpoints(
    _: Principal = Depends(require(Scope.read)),
    after: Annotated[int, Query(ge=0, description="id (cursor) of the last one seen")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    session: Session = Depends(get_session),
) -> CheckpointPage:
    rows, cursor = checkpoints.listing(session=session, after=after, limit=limit)
    return CheckpointPage(
        items=[_out(r) for r in rows], next_cursor=None if cursor is None else str(cursor)
    )


@router.post("/checkpoints", response_model=CheckpointOut, status_code=201)
def post_checkpoint(
    _: Principal = Depends(require(Scope.admin)),
    session: Session = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> CheckpointOut:
    """Catch the tree up to the log head and sign a checkpoint now."""
    signer = checkpoints.signer(settings.signing_key_path)
    row = checkpoints.checkpoint_now(session=session, signer=signer)
    out = _out(row)
    session.commit()
    return out


@router.get("/proofs/inclusion", response_model=InclusionProofOut)
def get_inclusion_proof(
    seq: Annotated[int, Query(ge=1, le=MAX_SEQ, description="the record's seq")],
    _: Principal = Depends(require(Scope.read)),
    tree_size: Annotated[
        int | None,
        Query(ge=1, le=MAX_SEQ, description="default: the latest checkpoint's tree size"),
    ] = None,
    session: Session = Depends(get_session),
) -> InclusionProofOut:
    return proofs.inclusion(session=session, seq=seq, tree_size_=tree_size)


@router.get("/proofs/consistency", response_model=ConsistencyProofOut)
def get_consistency_proof(
    first: Annotated[int, Query(ge=1, le=MAX_SEQ, description="the smaller tree size")],
    second: Annotated[int, Query(ge=1, le=MAX_SEQ, description="the larger tree size")],
    _: Principal = Depends(require(Scope.read)),
    session: Session = Depends(get_session),
) -> ConsistencyProofOut:
    return proofs.consistency(session=session, first=first, second=second)


def _checkpoint_in(body: CheckpointIn) -> Checkpoint:
    try:
        return Checkpoint.from_dict(body.model_dump())
    except EvidenceError as exc:
        raise InvalidInput(
            f"checkpoint: {exc}", errors=[{"field": "checkpoint", "message": str(exc)}]
        ) from None


@router.post("/cosignatures", response_model=CosignatureBody, status_code=201)
def post_cosignature(
    body: CosignatureIn,
    response: Response,
    _: Principal = Depends(require(Scope.read)),
    session: Session = Depends(get_session),
) -> CosignatureBody:
    """A witness's cosignature of a checkpoint (`custody witness` sends it); kept if it
    verifies with the key it carries, and logged (``witness.cosign``)."""
    checkpoint = _checkpoint_in(body.checkpoint)
    cosignature = Cosignature(**body.cosignature.model_dump())
    kept, created = witness.store(session=session, checkpoint=checkpoint, cosignature=cosignature)
    session.commit()
    if not created:
        response.status_code = 200
    return CosignatureBody(**kept.to_dict())


@router.get("/cosignatures", response_model=CosignaturePage)
def get_cosignatures(
    tree_size: Annotated[
        int | None, Query(ge=0, le=MAX_SEQ, description="default: the latest")
    ] = None,
    _: Principal = Depends(require(Scope.read)),
    session: Session = Depends(get_session),
) -> CosignaturePage:
    """The cosignatures of the latest checkpoint (of that tree size)."""
    stmt = select(CheckpointRow).order_by(CheckpointRow.id.desc()).limit(1)
    if tree_size is not None:
        stmt = stmt.where(CheckpointRow.tree_size == tree_size)
    row = session.scalars(stmt).first()
    if row is None:
        raise NotFound("No such checkpoint")
    checkpoint = checkpoints.to_checkpoint(row)
    items = witness.for_checkpoint(session=session, checkpoint=checkpoint)
    return CosignaturePage(
        checkpoint=CheckpointIn(**checkpoint.to_dict()),
        items=[CosignatureBody(**c.to_dict()) for c in items],
    )
