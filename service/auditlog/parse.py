"""Turn a request body into validated events without per-event json.loads on the happy path.

A JSON array (or NDJSON joined into one) is validated straight from bytes by pydantic;
only when something is wrong do we fall back to item-by-item parsing, to name every bad
item and keep the good ones for `?partial=true`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from service.auditlog.prepare import event_time
from service.auditlog.schemas import EventIn, ItemError
from service.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

_LIST = TypeAdapter(list[EventIn])
_ONE = TypeAdapter(EventIn)

JSON_TYPES = {"application/json", "text/json"}
NDJSON_TYPES = {
    "application/x-ndjson",
    "application/ndjson",
    "application/jsonl",
    "application/jsonlines",
}


@dataclass
class Parsed:
    """Items as (index, event) with the errors of the items that failed validation."""

    items: list[tuple[int, EventIn]] = field(default_factory=list)
    errors: list[ItemError] = field(default_factory=list)
    count: int = 0


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "$"


def _item_errors(index: int, exc: ValidationError, value: Any) -> list[ItemError]:
    errors = [
        ItemError(index=index, field=_loc(err["loc"]), message=err["msg"])
        for err in exc.errors(include_url=False)
    ]
    # `time` is checked by `prepare`, which a refused item never reaches: name a bad time
    # now too, so that one answer lists everything wrong with the item.
    when = value.get("time") if isinstance(value, dict) else None
    if isinstance(when, str) and not any(e.field == "time" for e in errors):
        try:
            event_time(when)
        except ValueError as bad:
            errors.append(ItemError(index=index, field="time", message=str(bad)))
    return errors


def _split_list_errors(exc: ValidationError) -> dict[int, list[ItemError]]:
    by_index: dict[int, list[ItemError]] = {}
    for err in exc.errors():
        index, *rest = err["loc"]
        by_index.setdefault(int(index), []).append(
            ItemError(index=int(index), field=_loc(tuple(rest)), message=err["msg"])
        )
    return by_index


def _is_json_error(exc: ValidationError) -> bool:
    return any(err["type"] == "json_invalid" for err in exc.errors())


def parse_values(values: list[Any]) -> Parsed:
    """Validate already-decoded JSON values (the slow path, and adapter output)."""
    parsed = Parsed(count=len(values))
    for index, value in enumerate(values):
        try:
            parsed.items.append((index, _ONE.validate_python(value)))
        except ValidationError as exc:
            parsed.errors.extend(_item_errors(index, exc, value))
    return parsed


def _parse_array(body: bytes) -> Parsed:
    try:
        events = _LIST.validate_json(body)
    except ValidationError as exc:
        if _is_json_error(exc):
            try:
                orjson.loads(body)
            except orjson.JSONDecodeError as jexc:
                raise InvalidInput(f"Malformed JSON: {jexc}") from None
            raise InvalidInput("Malformed JSON") from None
        values = orjson.loads(body)
        if not isinstance(values, list):
            raise InvalidInput("Expected a JSON object or array of events") from None
        return parse_values(values)
    return Parsed(items=list(enumerate(events)), count=len(events))


def _parse_ndjson(body: bytes) -> Parsed:
    lines = [(n, line) for n, line in enumerate(body.split(b"\n"), start=1) if line.strip()]
    joined = b"[" + b",".join(line for _, line in lines) + b"]"
    try:
        events = _LIST.validate_json(joined)
        return Parsed(items=list(enumerate(events)), count=len(events))
    except ValidationError:
        pass
    parsed = Parsed(count=len(lines))
    for index, (lineno, line) in enumerate(lines):
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            parsed.errors.append(
                ItemError(index=index, field="$", message=f"line {lineno}: malformed JSON: {exc}")
            )
            continue
        try:
            parsed.items.append((index, _ONE.validate_python(value)))
        except ValidationError as exc:
            parsed.errors.extend(_item_errors(index, exc, value))
    return parsed


def decode_values(body: bytes, content_type: str | None) -> list[Any]:
    """Decode a body into plain JSON values (for adapters that need the raw documents)."""
    kind = media_type(content_type)
    if kind in NDJSON_TYPES:
        out: list[Any] = []
        for lineno, line in enumerate(body.split(b"\n"), start=1):
            if line.strip():
                try:
                    out.append(orjson.loads(line))
                except orjson.JSONDecodeError as exc:
                    raise InvalidInput(f"line {lineno}: malformed JSON: {exc}") from None
        return out
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"Malformed JSON: {exc}") from None
    return value if isinstance(value, list) else [value]


def parse_events(body: bytes, content_type: str | None, *, max_events: int) -> Parsed:
    """Parse and validate a body of Custody v1 events (one, an array, or NDJSON)."""
    kind = media_type(content_type)
    if kind in NDJSON_TYPES:
        parsed = _parse_ndjson(body)
    elif kind in JSON_TYPES:
        stripped = body.lstrip()
        if stripped[:1] == b"[":
            parsed = _parse_array(body)
        elif stripped[:1] == b"{":
            parsed = _parse_array(b"[" + body + b"]")
        else:
            raise InvalidInput("Expected a JSON object or array of events")
    else:
        raise UnsupportedMediaType(
            f"Content-Type {kind or '(none)'} is not accepted; send application/json "
            "or application/x-ndjson"
        )
    if parsed.count > max_events:
        raise PayloadTooLarge(f"{parsed.count} events in one request; the limit is {max_events}")
    if parsed.count == 0:
        raise InvalidInput("The request holds no events")
    return parsed
