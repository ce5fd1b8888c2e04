"""Format detection and the `normalize` entry points over every adapter."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from service.adapters import (
    adversarial,
    azure_openai,
    bedrock_invocation,
    cloudtrail,
    gcp_audit,
    openai_audit,
)
from service.adapters.common import AdapterError, Event
from service.adapters.reader import iter_ndjson


@dataclass(frozen=True)
class Adapter:
    """One input format: how to recognise a record and turn it into an event.

    `records` unwraps the format's container documents (`{"Records": [...]}`,
    `{"object": "list", "data": [...]}`) and answers None for anything else.
    """

    name: str
    source: str | None
    detect: Callable[[Mapping[str, Any]], bool]
    to_event: Callable[[Mapping[str, Any]], Event]
    records: Callable[[Any], list[Any] | None] = field(default=lambda _payload: None)


def _is_custody(obj: Mapping[str, Any]) -> bool:
    return isinstance(obj.get("action"), str) and isinstance(obj.get("time"), str)


def _passthrough(obj: Mapping[str, Any]) -> Event:
    # Already schema v1: the ingest validator is the judge, adapters change nothing.
    return dict(obj)


# Detection order matters only for ambiguous objects: Custody events first (a native
# event that happens to carry vendor-like keys must stay untouched), then the formats
# with the most specific markers.
ADAPTERS: dict[str, Adapter] = {
    "custody": Adapter("custody", None, _is_custody, _passthrough),
    "cloudtrail": Adapter(
        "cloudtrail", cloudtrail.SOURCE, cloudtrail.detect, cloudtrail.to_event, cloudtrail.records
    ),
    "gcp": Adapter("gcp", gcp_audit.SOURCE, gcp_audit.detect, gcp_audit.to_event),
    "bedrock_invocation": Adapter(
        "bedrock_invocation",
        bedrock_invocation.SOURCE,
        bedrock_invocation.detect,
        bedrock_invocation.to_event,
    ),
    "azure_openai": Adapter(
        "azure_openai", azure_openai.SOURCE, azure_openai.detect, azure_openai.to_event
    ),
    "openai": Adapter(
        "openai",
        openai_audit.SOURCE,
        openai_audit.detect,
        openai_audit.to_event,
        openai_audit.records,
    ),
    "inspect_ai": Adapter(
        "inspect_ai",
        adversarial.INSPECT_SOURCE,
        adversarial.inspect_detect,
        adversarial.inspect_to_event,
        adversarial.inspect_records,
    ),
    "garak": Adapter(
        "garak",
        adversarial.GARAK_SOURCE,
        adversarial.garak_detect,
        adversarial.garak_to_event,
        adversarial.garak_records,
    ),
}


class NormalizeError(AdapterError):
    """One or more items could not be normalized; nothing is returned in that case.

    `errors` lists every bad item as (index, message), index being the position in the
    flattened record list (after container documents are unwrapped), so an API can
    answer one 422 naming them all.
    """

    def __init__(self, errors: list[tuple[int, str]]) -> None:
        self.errors = errors
        shown = "; ".join(f"item {index}: {message}" for index, message in errors[:10])
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        super().__init__(f"{len(errors)} item(s) could not be normalized: {shown}{more}")


def _unwrap(value: Any) -> list[Any] | None:
    for adapter in ADAPTERS.values():
        inner = adapter.records(value)
        if inner is not None:
            return inner
    return None


def skipped(value: Any) -> bool:
    """A record a format says carries nothing to store (a garak progress line)."""
    return _unwrap(value) == []


def flatten(payload: Any) -> list[Any]:
    """The records in a payload: a list's items, a container's records, or the value itself.

    Containers inside a list are unwrapped too (an array of CloudTrail files), one level.
    """
    items = payload if isinstance(payload, list) else [payload]
    out: list[Any] = []
    for item in items:
        inner = _unwrap(item)
        out.extend(inner if inner is not None else [item])
    return out


def detect_format(obj: Any) -> str | None:
    """The adapter name for a record, a container document, or a list of one format.

    None when the object is not recognised, or when a list mixes formats.
    """
    if isinstance(obj, list) or _unwrap(obj) is not None:
        found = {detect_format(item) for item in flatten(obj)}
        return found.pop() if len(found) == 1 else None
    if not isinstance(obj, dict):
        return None
    for name, adapter in ADAPTERS.items():
        if adapter.detect(obj):
            return name
    return None


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        keys = ", ".join(sorted(str(k) for k in value)[:8])
        return f"unrecognized record format (keys: {keys})"
    return f"expected a JSON object, got {type(value).__name__}"


def _normalize_items(items: list[Any], format: str | None) -> list[Event]:
    forced = None
    if format is not None:
        if format not in ADAPTERS:
            raise ValueError(f"unknown format {format!r}; known: {', '.join(ADAPTERS)}")
        forced = ADAPTERS[format]
    events: list[Event] = []
    errors: list[tuple[int, str]] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append((index, _describe(item)))
            continue
        name = forced.name if forced else detect_format(item)
        if name is None:
            errors.append((index, _describe(item)))
            continue
        try:
            events.append(ADAPTERS[name].to_event(item))
        except AdapterError as exc:
            errors.append((index, f"{name}: {exc}"))
    if errors:
        raise NormalizeError(errors)
    return events


def normalize(payload: Any, format: str | None = None) -> list[Event]:
    """Normalize a parsed JSON value (one record, a list, or a container document) into
    schema v1 event dicts, each keeping its original record under `raw`.

    `format` forces one adapter (a key of ADAPTERS); otherwise each record is detected on
    its own, so mixed lists work. All-or-nothing: raises NormalizeError listing every bad
    item. Deterministic: the same input yields the same events, ids included.
    """
    return _normalize_items(flatten(payload), format)


def normalize_lines(lines: Iterable[str | bytes], format: str | None = None) -> list[Event]:
    """Normalize NDJSON: one JSON value per line (blank lines skipped; a line may itself be
    a container document). Raises AdapterError naming the line for invalid JSON."""
    items: list[Any] = []
    for _number, value in iter_ndjson(lines):
        items.extend(flatten(value))
    return _normalize_items(items, format)
