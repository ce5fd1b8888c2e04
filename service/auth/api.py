"""Admin routes for tokens (scope admin)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from service.auth.deps import require
from service.auth.schemas import Principal, Scope, TokenCreate, TokenCreated, TokenOut, TokenPage
from service.auth.service import create_token, list_tokens, revoke_token
from service.deps import get_session
from service.errors import InvalidInput

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])
admin = require(Scope.admin)


@router.get("", response_model=TokenPage)
def get_tokens(session: Session = Depends(get_session), _: Principal = Depends(admin)) -> TokenPage:
    return TokenPage(items=list_tokens(session=session))


@router.post("", response_model=TokenCreated, status_code=201)
def post_token(
    body: TokenCreate,
    session: Session = Depends(get_session),
    principal: Principal = Depends(admin),
) -> TokenCreated:
    try:
        created = create_token(
            session=session,
            scope=body.scope,
            name=body.name,
            source=body.source,
            expires_in=timedelta(days=body.expires_in_days) if body.expires_in_days else None,
            created_by=principal.actor(),
        )
    except ValueError as exc:
        raise InvalidInput(str(exc), errors=[{"field": "source", "message": str(exc)}]) from None
    session.commit()
    return created


@router.post("/{token_id}/revoke", response_model=TokenOut)
def post_revoke(
    token_id: str,
    session: Session = Depends(get_session),
    principal: Principal = Depends(admin),
) -> TokenOut:
    out = revoke_token(session=session, token_id=token_id, revoked_by=principal.actor())
    session.commit()
    return out
