"""Helpers shared by the adapters: errors, time parsing, names, I-JSON safety.

Everything here is pure: no I/O, no clock, no randomness, so the same input always
normalizes to the same event (ids included), which is what makes re-ingest idempotent.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

Event = dict[str, Any]

MAX_SAFE_INTEGER = 2**53 - 1
# Field limits of the ingest schema (service/auditlog/schemas.py); longer values would make
# the whole event fail validation, so adapters clip them (raw keeps the full value).
MAX_ID = 256
MAX_SHORT = 512
MAX_IP = 128
MAX_USER_AGENT = 1024
# Attribute strings come from vendor error messages and similar; keep them small so the
# 64 KiB attribute limit is never reached by one chatty field.
MAX_ATTRIBUTE_STRING = 2048

ACTION_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
OUTCOMES = frozenset({"success", "failure", "denied", "unknown"})


class AdapterError(ValueError):
    """A record that claims a format but cannot be normalized (missing time, bad type...)."""


# ---------------------------------------------------------------------------- time

# Panther writes `2025-01-21 17:49:47.000000000`; Azure writes 7 fraction digits; GCP 9.
# datetime.fromisoformat accepts at most 6, so the fraction is parsed by hand.
_TS_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,12}))?"
    r"\s*(Z|z|UTC|[+-]\d{2}:?\d{2})?$"
)


def parse_time(value: Any) -> datetime:
    """Parse any timestamp form seen in the real samples into an aware UTC datetime.

    Accepted: RFC 3339 with `Z` or an offset and 0-12 fraction digits, the same with a
    space instead of `T` and no zone (Panther; read as UTC), and unix seconds (int or
    float, OpenAI's `effective_at`). Fractions beyond microseconds are truncated.
    """
    if isinstance(value, bool):
        raise AdapterError(f"timestamp must be a string or a number, got {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise AdapterError(f"timestamp is not finite: {value!r}")
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise AdapterError(f"unix timestamp out of range: {value!r}") from exc
    if not isinstance(value, str):
        raise AdapterError(f"timestamp must be a string or a number, got {type(value).__name__}")
    match = _TS_RE.match(value.strip())
    if match is None:
        raise AdapterError(f"unrecognized timestamp: {value!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    tz_text = "+00:00" if zone in (None, "Z", "z", "UTC") else zone
    if len(tz_text) == 5:  # +0100 -> +01:00
        tz_text = f"{tz_text[:3]}:{tz_text[3:]}"
    try:
        parsed = datetime.fromisoformat(
            f"{year}-{month}-{day}T{hour}:{minute}:{second}.{micro:06d}{tz_text}"
        )
    except ValueError as exc:
        raise AdapterError(f"invalid timestamp {value!r}: {exc}") from exc
    return parsed.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with exactly three fraction digits.

    A fixed width keeps string order equal to time order (`...00Z` would sort after
    `...00.5Z`); sub-millisecond digits are dropped, the raw record still has them.
    """
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def normalize_time(value: Any) -> str:
    return format_time(parse_time(value))


# ---------------------------------------------------------------------------- names

_CAMEL_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_ACTION_CHARS = re.compile(r"[^a-z0-9_]+")


def snake(name: str) -> str:
    """`GetFoundationModelAvailability` -> `get_foundation_model_availability`,
    `DescribeDBInstances` -> `describe_db_instances`, `Create_Thread` -> `create_thread`."""
    spaced = _CAMEL_RE.sub("_", name).lower()
    return _NOT_ACTION_CHARS.sub("_", spaced).strip("_") or "unknown"


def action_segment(text: str) -> str:
    """One dotted-action segment from arbitrary text (keeps it inside the action pattern)."""
    return _NOT_ACTION_CHARS.sub("_", text.lower()).strip("_") or "unknown"


def derived_action(*parts: str) -> str:
    """An action for a vendor operation with no mapping, e.g. `aws.bedrock.list_guardrails`.

    Unknown operations are never dropped: an audit trail that silently loses the calls
    nobody anticipated is worse than one with a long-tail vocabulary.
    """
    return ".".join(
        segment
        for part in parts
        for segment in (action_segment(piece) for piece in part.split("."))
    )


# ---------------------------------------------------------------------------- values


def clip(value: Any, limit: int) -> str | None:
    """A non-empty string clipped to `limit` characters, or None for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str) or value == "":
        return None
    return value[:limit]


def compact(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Drop None values (and empty dicts): the event contract omits missing keys."""
    return {k: v for k, v in mapping.items() if v is not None and v != {}}


def get_ci(mapping: Mapping[str, Any], key: str) -> Any:
    """Case-insensitive key lookup: AWS writes `outputBodyJson`, Panther `outputBodyJSON`."""
    if key in mapping:
        return mapping[key]
    lowered = key.lower()
    for candidate, value in mapping.items():
        if isinstance(candidate, str) and candidate.lower() == lowered:
            return value
    return None


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def clean_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes without None, with long strings clipped and numbers kept I-JSON safe."""
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if value is None:
            continue
        if isinstance(value, str):
            out[key] = value[:MAX_ATTRIBUTE_STRING]
        else:
            out[key] = ijson_safe(value, f"attributes.{key}")
    return out


def ijson_safe(value: Any, path: str = "raw") -> Any:
    """A copy of a parsed JSON value that the ingest validator (I-JSON, RFC 7493) accepts.

    Integers beyond +-(2^53-1) become their exact decimal string: Azure diagnostics carry
    .NET tick counts like 638515262815394150, and rejecting a genuine vendor record over
    a field nobody queries would lose evidence. NaN and infinities have no JSON form at
    all, so they mean the input was not JSON: that is an error, not something to repair.
    """
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AdapterError(f"{path}: non-finite number {value!r} is not JSON")
        return value
    if isinstance(value, dict):
        return {str(k): ijson_safe(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [ijson_safe(v, f"{path}[{i}]") for i, v in enumerate(value)]
    raise AdapterError(f"{path}: {type(value).__name__} is not a JSON value")


def content_id(record: Any) -> str:
    """A stable id from the record's content, for sources without a unique id of their own.

    Sorted keys and fixed separators make it independent of key order and whitespace in
    the shipped file; stdlib json is used because it carries big integers exactly.
    """
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_event(
    *,
    source: str,
    event_id: Any,
    time: Any,
    action: str,
    outcome: str,
    actor: Mapping[str, Any] | None,
    resource: Mapping[str, Any] | None,
    request_id: Any,
    attributes: Mapping[str, Any],
    raw: Any,
) -> Event:
    """Assemble a schema v1 event dict, omitting missing keys and clipping to field limits."""
    actor_out = compact(
        {
            "type": clip((actor or {}).get("type"), MAX_SHORT),
            "id": clip((actor or {}).get("id"), MAX_SHORT),
            "ip": clip((actor or {}).get("ip"), MAX_IP),
            "user_agent": clip((actor or {}).get("user_agent"), MAX_USER_AGENT),
        }
    )
    resource_out = compact(
        {
            "type": clip((resource or {}).get("type"), MAX_SHORT),
            "id": clip((resource or {}).get("id"), MAX_SHORT),
            "version": clip((resource or {}).get("version"), MAX_SHORT),
        }
    )
    # An over-long vendor id cannot be clipped without risking collisions: use content.
    ident = clip(event_id, MAX_ID) if len(str(event_id or "")) <= MAX_ID else None
    try:
        when = normalize_time(time)
    except AdapterError as exc:
        raise AdapterError(f"time: {exc}") from exc
    return compact(
        {
            "id": ident if ident is not None else content_id(raw),
            "time": when,
            "source": source,
            "action": action,
            "outcome": outcome,
            "actor": actor_out,
            "resource": resource_out,
            "request_id": clip(request_id, MAX_ID),
            "attributes": clean_attributes(attributes),
            "raw": ijson_safe(raw),
        }
    )
