"""Event field paths usable in rules, and fast getters for them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.rules.model import Event
from service.rules.records import vendor_record

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


# Where a vendor logsource's fields are read: the original record an adapter kept.
RAW = "raw"


def is_event_path(path: str, *, raw: bool = False) -> bool:
    """A fixed event field, or `attributes.<name>[.<nested>...]`; with `raw`, also
    `raw.<vendor field>` (rules of a vendor logsource, after their processing pipeline)."""
    if path in EVENT_FIELDS:
        return True
    head, _, rest = path.partition(".")
    if head == "attributes" or (raw and head == RAW):
        return bool(rest) and all(rest.split("."))
    return False


def make_getter(path: str) -> Getter:
    """Return a function reading `path` from an event; missing or non-object parents give None.

    The one- and two-level cases are spelled out because they are the hot path.
    """
    parts = path.split(".")
    if parts[0] == RAW and len(parts) > 1:
        return _vendor_getter(parts)
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


def _vendor_getter(parts: list[str]) -> Getter:
    """Read a vendor field from the original record under `raw` (`records.vendor_record`:
    inside its envelope, if the adapter accepted it wrapped).

    Vendor records are not Custody's: keys may contain dots themselves (OpenAI's
    `"api_key.created": {...}`), so the longest key present wins at each level; and a list
    on the way (GCP's `authorizationInfo[]`) yields the values of all its items, which the
    compiled tests treat as "any of them matches", as Sigma backends do.
    """
    rest = tuple(parts[1:])

    def get(event: Event) -> Any:
        values = _resolve(vendor_record(event), rest)
        if not values:
            return None
        return values[0] if len(values) == 1 else values

    if len(rest) != 1:
        return get
    (key,) = rest

    def get_top(event: Event) -> Any:
        # Hot path (CloudTrail `eventName`, `eventSource`): a plain top-level scalar.
        record = vendor_record(event)
        value = record.get(key) if isinstance(record, dict) else None
        if value is None or isinstance(value, list):
            return get(event)
        return value

    return get_top


def _resolve(obj: Any, parts: tuple[str, ...]) -> list[Any]:
    """Every value at `parts` below `obj`, lists flattened, missing ones left out."""
    if isinstance(obj, list):
        return [value for item in obj for value in _resolve(item, parts)]
    if not parts:
        return [] if obj is None else [obj]
    if not isinstance(obj, dict):
        return []
    for cut in range(len(parts), 0, -1):
        key = parts[0] if cut == 1 else ".".join(parts[:cut])
        if key in obj:
            return _resolve(obj[key], parts[cut:])
    return []
