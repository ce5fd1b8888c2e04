"""Correlation rules: Sigma loading, compiled detections, the in-memory engine.

Pure code: no database, no HTTP. The worker feeds stored events to `Engine.process`
and turns the returned `Firing`s into incidents.
"""

from service.rules.engine import Engine, dedup_key, run_events
from service.rules.loader import load_rule_files, load_rules, rule_files
from service.rules.model import (
    ConditionOp,
    Correlation,
    CorrelationType,
    Firing,
    FirstSeen,
    Rule,
    RuleLoadError,
    Severity,
)
from service.rules.seen import InMemorySeenStore, SeenStore

__all__ = [
    "ConditionOp",
    "Correlation",
    "CorrelationType",
    "Engine",
    "Firing",
    "FirstSeen",
    "InMemorySeenStore",
    "Rule",
    "RuleLoadError",
    "SeenStore",
    "Severity",
    "dedup_key",
    "load_rule_files",
    "load_rules",
    "rule_files",
    "run_events",
]
