"""Event field paths usable in rules, and fast getters for them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.rules.model import Event

Getter = Callable[[Event], Any]

EVENT_FIELDS = frozenset(
    {
        "action",
        "outcome",
        "source",
        "request_id",
        "actor.id",
        "actor.type",
        "actor.ip",
        "actor.user_agent",
        "resource.type",
        "resource.id",
        "resource.version",
    }
)


def is_event_path(path: str) -> bool:
    """A fixed event field, or `attributes.<name>[.<nested>...]`."""
    if path in EVENT_FIELDS:
        return True
    head, _, rest = path.partition(".")
    return head == "attributes" and bool(rest) and all(rest.split("."))


def make_getter(path: str) -> Getter:
    """Return a function reading `path` from an event; missing or non-object parents give None.

    The one- and two-level cases are spelled out because they are the hot path.
    """
    parts = path.split(".")
    if len(parts) == 1:
        (key,) = parts
        return lambda event: event.get(key)
    if len(parts) == 2:
        outer, inner = parts

        def get2(event: Event) -> Any:
            obj = event.get(outer)
            return obj.get(inner) if isinstance(obj, dict) else None

        return get2

    def get_n(event: Event) -> Any:
        obj: Any = event
        for part in parts:
            if not isinstance(obj, dict):
                return None
            obj = obj.get(part)
        return obj

    return get_n
