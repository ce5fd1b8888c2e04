"""Value types shared by the loader, the compiler and the engine (no I/O here)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

Event = Mapping[str, Any]
Predicate = Callable[[Event], bool]


class Severity(StrEnum):
    """Incident severity; Sigma `informational` maps to `info`."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class CorrelationType(StrEnum):
    EVENT_COUNT = "event_count"
    VALUE_COUNT = "value_count"
    TEMPORAL = "temporal"
    TEMPORAL_ORDERED = "temporal_ordered"


class ConditionOp(StrEnum):
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    EQ = "eq"
    NEQ = "neq"

    def holds(self, value: float, threshold: float) -> bool:
        if self is ConditionOp.GT:
            return value > threshold
        if self is ConditionOp.GTE:
            return value >= threshold
        if self is ConditionOp.LT:
            return value < threshold
        if self is ConditionOp.LTE:
            return value <= threshold
        if self is ConditionOp.EQ:
            return value == threshold
        return value != threshold

    @property
    def monotone(self) -> bool:
        """True when adding matches can only make the condition true, never false again."""
        return self in (ConditionOp.GT, ConditionOp.GTE)


@dataclass(frozen=True, slots=True)
class FirstSeen:
    """`custom.first_seen`: fire when this value combination is new within `history`."""

    fields: tuple[str, ...]
    history: timedelta


@dataclass(frozen=True, slots=True)
class NotPrecededBy:
    """`custom.not_preceded_by`: fire on a match unless `rule` matched for the same
    `fields` within `within` before it (see `service.rules.absence`). `rule` is the
    referenced rule's id once loaded. `optional_fields` are compared only where both
    events carry a value."""

    rule: str
    within: timedelta
    fields: tuple[str, ...]
    optional_fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExceedsPrevious:
    """`custom.exceeds_previous`: fire when the numeric `value` of a match is at least
    `by` above the previous value in its series (same `series` values), where previous
    means another `version` when one is named (see `service.rules.previous`)."""

    value: str
    by: float
    series: tuple[str, ...]
    version: str | None
    within: timedelta


@dataclass(frozen=True, slots=True)
class Correlation:
    """A resolved Sigma correlation.

    `refs` are the referenced rule ids in rule order (repeats allowed for ordered
    sequences); `group_paths[rule_id]` gives, per `group_by` name, the field to read
    from that rule's matches (aliases already applied). For a referenced correlation the
    "field" is one of its own group-by names.
    """

    type: CorrelationType
    refs: tuple[str, ...]
    group_by: tuple[str, ...]
    group_paths: Mapping[str, tuple[str, ...]]
    timespan: timedelta
    op: ConditionOp
    count: float
    value_paths: Mapping[str, str] = field(default_factory=dict)
    generate: bool = False


@dataclass(frozen=True, slots=True, eq=False)
class Rule:
    """A loaded rule. Exactly one of `predicate` (detection) or `correlation` is set."""

    id: str
    name: str | None
    title: str
    description: str
    severity: Severity
    tags: tuple[str, ...]
    runbook: str | None
    dedup: tuple[str, ...]
    path: Path
    content_hash: str
    emits: bool
    document: Mapping[str, Any]
    predicate: Predicate | None = None
    actions: frozenset[str] | None = None
    # Same as `predicate` for events whose action is in `actions`; cheaper (engine only).
    dispatch: Predicate | None = None
    first_seen: FirstSeen | None = None
    correlation: Correlation | None = None
    category: str | None = None
    # Vendor-logsource rules: the adapter source they read, and the field their `actions`
    # are values of (the vendor's operation name, e.g. `raw.eventName`).
    vendor_source: str | None = None
    index: str = "action"
    not_preceded_by: NotPrecededBy | None = None
    exceeds_previous: ExceedsPrevious | None = None

    @property
    def kind(self) -> str:
        """`detection`, `first_seen`, `not_preceded_by`, `exceeds_previous` or the
        correlation type."""
        if self.correlation is not None:
            return str(self.correlation.type)
        if self.not_preceded_by is not None:
            return "not_preceded_by"
        if self.exceeds_previous is not None:
            return "exceeds_previous"
        return "first_seen" if self.first_seen is not None else "detection"


@dataclass(frozen=True, slots=True)
class Firing:
    """One rule firing. The incidents layer opens or extends an incident by `dedup_key`."""

    rule_id: str
    rule_hash: str
    title: str
    severity: Severity
    tags: tuple[str, ...]
    runbook: str | None
    group: Mapping[str, Any]
    dedup_key: str
    evidence: tuple[int, ...]
    first_seen: datetime
    last_seen: datetime
    category: str | None = None


@dataclass(frozen=True, slots=True)
class RuleLoadError:
    """Why a rule file was rejected; `field` is the offending key where known.

    `unsupported` is set when the rule is valid Sigma that Custody cannot run (a rule
    written for another log store, say): `logsource`, `field`, `modifier`, `keyword`,
    `condition`, `document`, `deprecated` or `status`. None means the rule itself is
    broken.
    """

    path: Path
    message: str
    field: str | None = None
    rule: str | None = None
    unsupported: str | None = None

    def __str__(self) -> str:
        where = f"{self.path}"
        if self.rule:
            where += f" [{self.rule}]"
        if self.field:
            where += f" {self.field}"
        return f"{where}: {self.message}"
