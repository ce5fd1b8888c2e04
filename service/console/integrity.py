"""Routes: integrity (latest checkpoint, public key, verify now) and the rules pack."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auditlog.chain import read_head
from service.auditlog.verify import verify_chain
from service.auth.audit import audit_read
from service.auth.schemas import Scope
from service.config import Settings
from service.console.sessions import Signed
from service.console.verification import verify_trailer
from service.console.web import PREFIX, page, render, validated
from service.deps import get_session, get_settings
from service.errors import InvalidInput
from service.evidence import checkpoints
from service.evidence.keys import public_key_pem
from service.evidence.models import CosignatureRow
from service.evidence.schemas import Scope as EvidenceScope
from service.evidence.signing import checkpoint_is_valid
from service.rules import service as rules
from service.rules.api import get_registry
from service.rules.eventtime import EventTimePolicy
from service.rules.models import RuleEngineState
from service.rules.ruleset import RuleRegistry
from service.rules.schemas import BacktestIn

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Reader = Annotated[Signed, Depends(page(Scope.read))]
Db = Annotated[Session, Depends(get_session)]
Config = Annotated[Settings, Depends(get_settings)]
Registry = Annotated[RuleRegistry, Depends(get_registry)]


def _integrity(session: Session, settings: Settings) -> dict[str, Any]:
    key = checkpoints.signing_key(settings.signing_key_path)
    row = checkpoints.latest(session=session)
    head_seq, head_hash = read_head(session)
    # Cosignatures are verified when they are stored (service.evidence.witness).
    cosigned: list[CosignatureRow] = []
    if row is not None:
        query = select(CosignatureRow).where(CosignatureRow.checkpoint_id == row.id)
        cosigned = list(session.scalars(query.order_by(CosignatureRow.id)))
    return {
        "cosignatures": cosigned,
        "checkpoint": row,
        "signature_ok": checkpoint_is_valid(key.public_key(), checkpoints.to_checkpoint(row))
        if row
        else None,
        "public_key": public_key_pem(key).decode(),
        "head_seq": head_seq,
        "head_hash": head_hash,
    }


@router.get("/integrity")
def integrity(signed: Reader, request: Request, session: Db, settings: Config) -> Response:
    return render(request, "integrity.html", _integrity(session, settings), signed=signed)


@router.get("/integrity/verify")
def verify_now(
    signed: Reader, request: Request, session: Db, settings: Config, from_seq: str = "1"
) -> Response:
    """Verify the hash chain (from `from_seq`), the latest checkpoint's signature, and
    that the checkpoint's last record is proven included in its signed tree."""
    if not from_seq.isdigit() or int(from_seq) < 1:
        raise InvalidInput(
            "from_seq: a seq of 1 or more", errors=[{"field": "from_seq", "message": "not a seq"}]
        )
    audit_read(session=session, request=request, principal=signed.principal)
    session.commit()
    chain = verify_chain(session=session, from_seq=int(from_seq))
    context = _integrity(session, settings)
    trailer = None
    row = context["checkpoint"]
    if row is not None and row.tree_size > 0:
        scope = EvidenceScope(from_seq=row.tree_size, to_seq=row.tree_size)
        trailer, _ = verify_trailer(session=session, scope=scope, settings=settings)
    context.update(chain=chain, t=trailer)
    return render(request, "integrity.html", context, signed=signed)


def _lag(session: Session) -> int | None:
    cursor = session.scalar(select(RuleEngineState.cursor).where(RuleEngineState.id == 1))
    return None if cursor is None else read_head(session)[0] - cursor


@router.get("/rules")
def rules_page(signed: Reader, request: Request, session: Db, registry: Registry) -> Response:
    listing = rules.list_rules(session=session, rule_set=registry.current())
    return render(
        request,
        "rules.html",
        {"rules": listing, "lag": _lag(session), "result": None, "f": {}},
        signed=signed,
    )


@router.get("/rules/backtest")
def backtest(
    signed: Reader, request: Request, session: Db, registry: Registry, settings: Config
) -> Response:
    """What the deployed pack would have opened over a range (nothing is opened)."""
    fields = {
        n: v
        for n in ("since", "until", "from_seq", "to_seq")
        if (v := request.query_params.get(n, "").strip())
    }
    body = validated(BacktestIn, fields)
    result = rules.backtest(
        session=session,
        rule_set=registry.current(),
        request=body,
        policy=EventTimePolicy.from_settings(settings),
        budget_seconds=settings.backtest_budget_seconds,
    )
    audit_read(session=session, request=request, principal=signed.principal)
    session.commit()
    listing = rules.list_rules(session=session, rule_set=registry.current())
    return render(
        request,
        "rules.html",
        {"rules": listing, "lag": _lag(session), "result": result, "f": fields},
        signed=signed,
    )
