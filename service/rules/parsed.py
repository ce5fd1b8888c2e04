"""One parsed rule document on its way from YAML to `Rule` (loader internals)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from service.rules.custom import Custom
from service.rules.logsources import VendorLogsource
from service.rules.model import Correlation, Predicate


class CorrelationError(ValueError):
    def __init__(self, field: str, message: str, rule: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.rule = rule


@dataclass(eq=False)
class Parsed:
    path: Path
    doc: Mapping[str, Any]
    sigma: SigmaRule | SigmaCorrelationRule
    custom: Custom
    own_hash: str
    predicate: Predicate | None
    actions: frozenset[str] | None
    dispatch: Predicate | None
    # The vendor logsource whose field names the rule uses; None: Custody's event paths.
    vendor: VendorLogsource | None = None
    refs: list[Parsed] = field(default_factory=list)
    correlation: Correlation | None = None
    # The detection rule `custom.not_preceded_by` names, once resolved.
    preceding: Parsed | None = None

    @property
    def rule_id(self) -> str:
        return str(self.sigma.id)

    @property
    def group_by(self) -> tuple[str, ...]:
        sigma = self.sigma
        if isinstance(sigma, SigmaCorrelationRule):
            return tuple(sigma.group_by or ())
        return ()

    def lookup(self, by_key: Mapping[str, Parsed], reference: str, where: str) -> Parsed:
        target = by_key.get(reference)
        if target is None:
            raise CorrelationError(where, f"references unknown rule '{reference}'", self.rule_id)
        return target
