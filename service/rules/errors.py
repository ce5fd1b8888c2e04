"""Errors of the rules domain (mapped to problem+json by service.problems)."""

from __future__ import annotations

from service.errors import InvalidInput, NotFound


class RuleNotFound(NotFound):
    title = "Rule not found"


class InvalidRules(InvalidInput):
    title = "Invalid rules"
