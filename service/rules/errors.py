"""Errors of the rules domain (mapped to problem+json by service.problems)."""

from __future__ import annotations

from service.errors import InvalidInput, NotFound, ServiceError


class RuleNotFound(NotFound):
    title = "Rule not found"


class InvalidRules(InvalidInput):
    title = "Invalid rules"


class BacktestOverBudget(ServiceError):
    """A backtest ran past its time budget (``CUSTODY_BACKTEST_BUDGET_SECONDS``)."""

    status = 422
    title = "Backtest over its time budget"
