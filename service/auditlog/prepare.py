"""From a validated event to what is stored: normalized fields and the payload body."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from service.auditlog.schemas import EventIn, ItemError, Timestamp
from service.logformat import NotIJSON, canonical_json, format_time, join_payload, refusal


@dataclass(slots=True)
class Prepared:
    """An event ready to be chained; `index` is its position in the request."""

    index: int
    event_id: str | None
    time: str
    source: str
    action: str
    outcome: str
    actor: dict[str, str] | None
    resource: dict[str, str] | None
    request_id: str | None
    body: bytes
    content_hash: str


@dataclass(slots=True)
class Limits:
    max_attributes_bytes: int
    max_raw_bytes: int


class SourceForbidden(ItemError):
    """An item naming a source its ingest token is not bound to."""


def payload_body(attributes: Any, raw: Any, limits: Limits | None = None) -> bytes:
    """JCS of {"attributes": ..., "raw": ...}, checking I-JSON and size limits."""
    attrs = canonical_json(attributes if attributes is not None else {}, "attributes")
    raw_bytes = canonical_json(raw, "raw")
    if limits is not None:
        if len(attrs) > limits.max_attributes_bytes:
            raise NotIJSON(
                "attributes", f"larger than {limits.max_attributes_bytes} bytes ({len(attrs)})"
            )
        if len(raw_bytes) > limits.max_raw_bytes:
            raise NotIJSON("raw", f"larger than {limits.max_raw_bytes} bytes ({len(raw_bytes)})")
    return join_payload(attrs, raw_bytes)


# The form nearly every shipper sends; anything else takes pydantic's full RFC 3339 parser.
_PLAIN_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.(\d{1,6}))?Z")
_TIMESTAMP: TypeAdapter[datetime] = TypeAdapter(Timestamp)


def event_time(value: str) -> str:
    """An event's time as stored (`format_time`: UTC, microseconds, `Z`); raises
    ValueError with the message a responder sees."""
    plain = _PLAIN_UTC.fullmatch(value)
    if plain is not None and value[0] != "0":
        try:
            datetime.fromisoformat(value)  # the calendar: no February 30th
        except ValueError:
            pass  # pydantic's parser below words the error
        else:
            return f"{value[:19]}.{plain.group(1) or '':0<6}Z"
    try:
        when = _TIMESTAMP.validate_python(value)
    except ValidationError as exc:
        raise ValueError(exc.errors(include_url=False)[0]["msg"]) from None
    if when.year < 1000:
        raise ValueError("year must be 1000 or later")
    return format_time(when)


def _compact(value: dict[str, str | None] | None) -> dict[str, str] | None:
    if not value:
        return None
    if None not in value.values():  # the usual case: keep the validated dict as it is
        return value  # type: ignore[return-value]
    data = {k: v for k, v in value.items() if v is not None}
    return data or None


def prepare(
    *,
    index: int,
    event: EventIn,
    limits: Limits,
    bound_source: str | None = None,
) -> Prepared | ItemError:
    source = event.get("source")
    if source is None:
        source = bound_source
    action = event["action"]
    # Before the binding check: a forged internal record is a 422 for every token.
    if (refused := refusal(source, action)) is not None:
        return ItemError(index=index, field=refused[0], message=refused[1])
    if bound_source is not None and source != bound_source:
        return SourceForbidden(
            index=index,
            field="source",
            message=f"this token may only write events of source {bound_source!r}",
        )
    if source is None:
        return ItemError(index=index, field="source", message="Field required")
    try:
        body = payload_body(event.get("attributes"), event.get("raw"), limits)
    except NotIJSON as exc:
        return ItemError(index=index, field=exc.path.removeprefix("$."), message=exc.message)
    try:
        time = event_time(event["time"])
    except ValueError as exc:
        return ItemError(index=index, field="time", message=str(exc))
    actor = _compact(event.get("actor"))  # type: ignore[arg-type]
    resource = _compact(event.get("resource"))  # type: ignore[arg-type]
    outcome = event.get("outcome", "unknown")
    event_id = event.get("id")
    request_id = event.get("request_id")
    core = orjson.dumps(
        [event_id, time, source, action, outcome, actor, resource, request_id],
        option=orjson.OPT_SORT_KEYS,
    )
    return Prepared(
        index=index,
        event_id=event_id,
        time=time,
        source=source,
        action=action,
        outcome=outcome,
        actor=actor,
        resource=resource,
        request_id=request_id,
        body=body,
        content_hash=hashlib.sha256(core + b"\n" + body).hexdigest(),
    )
