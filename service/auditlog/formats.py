"""Ingest bodies in other formats: route vendor logs through the adapters.

Plain Custody events never come here on the happy path: `parse_body` first runs the
fast parser, and only looks further when the caller named a vendor format, or when
validation failed on `action`/`time` (what every non-Custody record lacks) or on
malformed JSON (old Fluent Bit sends `json_lines` as application/json). The cost of the
second look is paid only by bodies that would otherwise be refused.
"""

from __future__ import annotations

import enum
from typing import Any

import orjson

from service.adapters import AdapterError, detect_format, flatten, normalize
from service.adapters.registry import NormalizeError
from service.auditlog.parse import (
    JSON_TYPES,
    Parsed,
    decode_values,
    media_type,
    parse_events,
    parse_values,
)
from service.auditlog.schemas import ItemError
from service.errors import InvalidInput, PayloadTooLarge


class InputFormat(enum.StrEnum):
    """`?format=` values: the adapter names (a test keeps the two lists equal)."""

    custody = "custody"
    cloudtrail = "cloudtrail"
    openai = "openai"
    gcp = "gcp"
    bedrock_invocation = "bedrock_invocation"
    azure_openai = "azure_openai"
    inspect_ai = "inspect_ai"
    garak = "garak"


NDJSON = "application/x-ndjson"
# The fields an adapter-shaped record is missing; errors elsewhere are Custody errors.
_CUSTODY_MARKERS = frozenset({"action", "time"})


def _vendor(value: Any) -> bool:
    return detect_format(value) not in (None, "custody")


def _adapt(values: list[Any], format: str | None, max_events: int) -> Parsed:
    """Normalize each record on its own, so one bad record names its index and
    `?partial=true` can keep the others. Records no adapter recognises are validated as
    Custody events, which gives the most useful field-level errors."""
    if len(values) > max_events:
        raise PayloadTooLarge(f"{len(values)} events in one request; the limit is {max_events}")
    if not values:
        raise InvalidInput("The request holds no events")
    candidates: list[tuple[int, Any]] = []
    errors: list[ItemError] = []
    for index, value in enumerate(values):
        if format is None and not _vendor(value):
            candidates.append((index, value))
            continue
        try:
            events = normalize(value, format)
        except NormalizeError as exc:
            errors.extend(ItemError(index=index, field="$", message=m) for _, m in exc.errors)
            continue
        except AdapterError as exc:
            errors.append(ItemError(index=index, field="$", message=str(exc)))
            continue
        if len(events) != 1:
            errors.append(ItemError(index=index, field="$", message="expected one record"))
            continue
        candidates.append((index, events[0]))
    checked = parse_values([value for _, value in candidates])
    positions = [index for index, _ in candidates]
    parsed = Parsed(count=len(values), errors=errors)
    parsed.items = [(positions[i], event) for i, event in checked.items]
    parsed.errors += [e.model_copy(update={"index": positions[e.index]}) for e in checked.errors]
    return parsed


def _may_be_vendor(parsed: Parsed) -> bool:
    return any(e.field.split(".", 1)[0] in _CUSTODY_MARKERS for e in parsed.errors)


def _looks_like_ndjson(body: bytes) -> bool:
    """Several lines, the first a complete JSON object (a broken pretty-printed document
    keeps its "Malformed JSON" answer instead of one error per line)."""
    lines = body.strip().split(b"\n", 1)
    if len(lines) < 2:
        return False
    try:
        return isinstance(orjson.loads(lines[0]), dict)
    except orjson.JSONDecodeError:
        return False


def parse_body(
    body: bytes, content_type: str | None, *, format: str | None, max_events: int
) -> Parsed:
    """Parse a POST /v1/events body: Custody events, or records of a vendor format
    (named by `format`, else detected per record: CloudTrail `{"Records": [...]}`,
    OpenAI `{"object": "list", ...}`, GCP, Bedrock invocation and Azure OpenAI logs)."""
    if format not in (None, "custody"):
        return _adapt(flatten(decode_values(body, content_type)), format, max_events)
    try:
        parsed = parse_events(body, content_type, max_events=max_events)
    except InvalidInput:
        # Fluent Bit before 3.0 labels `format json_lines` as application/json.
        if media_type(content_type) not in JSON_TYPES or not _looks_like_ndjson(body):
            raise
        content_type = NDJSON
        parsed = parse_events(body, content_type, max_events=max_events)
    if format == "custody" or not _may_be_vendor(parsed):
        return parsed
    values = flatten(decode_values(body, content_type))
    if not any(_vendor(value) for value in values):
        return parsed
    return _adapt(values, None, max_events)
