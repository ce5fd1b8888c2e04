"""A loaded rules directory: the rules that loaded, and why the others did not."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from service.logging import get_logger
from service.rules.loader import load_rules
from service.rules.model import Rule, RuleLoadError

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RuleSet:
    directory: Path
    rules: tuple[Rule, ...]
    errors: tuple[RuleLoadError, ...]
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def find(self, key: str) -> Rule | None:
        """A rule by id or by name."""
        return next((r for r in self.rules if key in (r.id, r.name)), None)


def load_rule_set(*, directory: Path) -> RuleSet:
    """Load `directory`; each rejected file is logged and the other rules still run."""
    rules, errors = load_rules(directory=directory)
    for error in errors:
        log.warning(
            "rules.load_error",
            file=str(error.path),
            field=error.field,
            rule=error.rule,
            message=error.message,
        )
    log.info("rules.loaded", directory=str(directory), rules=len(rules), errors=len(errors))
    return RuleSet(directory=directory, rules=tuple(rules), errors=tuple(errors))


class RuleRegistry:
    """The API's view of the deployed rules, loaded on first use and on reload."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._current: RuleSet | None = None

    def current(self) -> RuleSet:
        with self._lock:
            if self._current is None:
                self._current = load_rule_set(directory=self.directory)
            return self._current

    def reload(self) -> RuleSet:
        fresh = load_rule_set(directory=self.directory)
        with self._lock:
            self._current = fresh
        return fresh
