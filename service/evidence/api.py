"""Routes of the signed log: public key, checkpoints, inclusion and consistency proofs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.orm import Session

from service.auditlog.schemas import MAX_SEQ
from service.auth.deps import require
from service.auth.schemas import Principal, Scope
from service.config import Settings
from service.deps import get_session, get_settings
from service.errors import NotFound
from service.evidence import checkpoints, proofs
from service.evidence.keys import public_key_pem
from service.evidence.models import CheckpointRow
from service.evidence.schemas import (
    CheckpointOut,
    CheckpointPage,
    ConsistencyProofOut,
    InclusionProofOut,
)

router = APIRouter(prefix="/v1/log", tags=["evidence"])
PEM = "application/x-pem-file"


def _out(row: CheckpointRow) -> CheckpointOut:
    return CheckpointOut.model_validate(row, from_attributes=True)


@router.get("/public-key", response_class=Response, responses={200: {"content": {PEM: {}}}})
def get_public_key(
    _: Principal = Depends(require(Scope.read)), settings: Settings = Depends(get_settings)
) -> Response:
    """The Ed25519 public key (SubjectPublicKeyInfo PEM) that signs checkpoints."""
    key = checkpoints.signing_key(settings.signing_key_path)
    return Response(public_key_pem(key), media_type=PEM)


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
    key = checkpoints.signing_key(settings.signing_key_path)
    row = checkpoints.checkpoint_now(session=session, key=key)
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
