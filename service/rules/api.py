"""Routes of the rules domain: catalogue with counters, reload, backtest."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from service.atlas.service import coverage_layer
from service.auth.audit import audit_read
from service.auth.deps import require
from service.auth.errors import Forbidden
from service.auth.schemas import GRANTS, Principal, Scope
from service.config import Settings
from service.deps import get_session, get_settings
from service.rules import service
from service.rules.eventtime import EventTimePolicy
from service.rules.ruleset import RuleRegistry
from service.rules.schemas import (
    BacktestIn,
    BacktestOut,
    ReloadOut,
    RuleDetail,
    RulePage,
    RulesStatus,
)
from service.rules.status import rules_status

router = APIRouter(prefix="/v1/rules", tags=["rules"])


def get_registry(request: Request) -> RuleRegistry:
    """The deployed rules of this API process (created on first use, not at startup)."""
    state = request.app.state
    registry: RuleRegistry | None = getattr(state, "rules", None)
    if registry is None:
        registry = state.rules = RuleRegistry(state.settings.rules_dir)
    return registry


@router.get("", response_model=RulePage)
def get_rules(
    _: Principal = Depends(require(Scope.read)),
    session: Session = Depends(get_session),
    registry: RuleRegistry = Depends(get_registry),
) -> RulePage:
    return service.list_rules(session=session, rule_set=registry.current())


@router.get("/coverage")
def get_coverage(
    score_by: Literal["rules", "firings"] = "rules",
    _: Principal = Depends(require(Scope.read)),
    session: Session = Depends(get_session),
    registry: RuleRegistry = Depends(get_registry),
) -> dict[str, Any]:
    """An ATLAS Navigator layer (format 4.5) of the techniques the deployed rules cover,
    scored by the number of rules or by how often they fired."""
    return coverage_layer(session=session, rules=registry.current().rules, score_by=score_by)


@router.get("/status", response_model=RulesStatus)
def get_status(
    _: Principal = Depends(require(Scope.read)),
    session: Session = Depends(get_session),
    registry: RuleRegistry = Depends(get_registry),
    settings: Settings = Depends(get_settings),
) -> RulesStatus:
    """Engine cursor and lag, event time per source, late and skewed counts, warm-up."""
    return rules_status(
        session=session,
        policy=EventTimePolicy.from_settings(settings),
        rule_set=registry.current(),
    )


@router.get("/{rule_id}", response_model=RuleDetail)
def get_rule(
    rule_id: str,
    _: Principal = Depends(require(Scope.read)),
    session: Session = Depends(get_session),
    registry: RuleRegistry = Depends(get_registry),
) -> RuleDetail:
    return service.get_rule(session=session, rule_set=registry.current(), rule_id=rule_id)


@router.post("/reload", response_model=ReloadOut)
def post_reload(
    principal: Principal = Depends(require(Scope.admin)),
    session: Session = Depends(get_session),
    registry: RuleRegistry = Depends(get_registry),
) -> ReloadOut:
    out = service.reload_rules(session=session, registry=registry, actor=principal.actor())
    session.commit()
    return out


@router.post("/backtest", response_model=BacktestOut)
def post_backtest(
    body: BacktestIn,
    request: Request,
    principal: Principal = Depends(require(Scope.read)),
    session: Session = Depends(get_session),
    registry: RuleRegistry = Depends(get_registry),
    settings: Settings = Depends(get_settings),
) -> BacktestOut:
    if body.rules is not None and Scope.admin not in GRANTS[principal.scope]:
        # Candidate rules are code the server runs over the whole trail: reading the
        # deployed pack's results is a read, running new detection logic is not.
        raise Forbidden("Backtesting candidate rules needs the admin scope")
    out = service.backtest(
        session=session,
        rule_set=registry.current(),
        request=body,
        policy=EventTimePolicy.from_settings(settings),
        budget_seconds=settings.backtest_budget_seconds,
    )
    # A backtest reads the trail (evidence seqs, group values): audited like other reads.
    # It is the only write, and it comes after the read so it never shows in the result.
    audit_read(session=session, request=request, principal=principal)
    session.commit()
    return out
