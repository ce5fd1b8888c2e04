"""Where first-seen rules remember when a value combination was last seen."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class SeenStore(Protocol):
    """Last-seen times per (rule id, key); `key` is a canonical JSON array of the values.

    `set_last_seen` must keep the later of the stored and the given time, so replaying
    events after a restart (`Engine.warm`) is harmless.
    """

    def get_last_seen(self, rule_id: str, key: str) -> datetime | None: ...

    def set_last_seen(self, rule_id: str, key: str, seen_at: datetime) -> None: ...


class InMemorySeenStore:
    """Process-local store for tests, backtests and the embedded mode."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], datetime] = {}

    def get_last_seen(self, rule_id: str, key: str) -> datetime | None:
        return self._seen.get((rule_id, key))

    def set_last_seen(self, rule_id: str, key: str, seen_at: datetime) -> None:
        current = self._seen.get((rule_id, key))
        if current is None or seen_at > current:
            self._seen[(rule_id, key)] = seen_at

    def prune(self, *, before: datetime) -> int:
        """Forget entries last seen before `before` (older than any rule's history)."""
        stale = [k for k, v in self._seen.items() if v < before]
        for k in stale:
            del self._seen[k]
        return len(stale)

    def __len__(self) -> int:
        return len(self._seen)
