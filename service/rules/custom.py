"""Custody's custom rule keys.

pySigma keeps every unknown top-level key of a rule in `custom_attributes`. Custody reads
one of them, a nested mapping::

    custom:
      runbook: model-exfiltration          # runbook id attached to incidents
      category: exfiltration               # the incident's category (service.taxonomy)
      dedup: [actor.id, resource.id]       # fields whose values make the dedup key
      first_seen:                          # detection rules only
        fields: [actor.id, resource.id]
        history: 30d                       # Sigma timespan syntax (s, m, h, d, w)

The dotted spelling (`custom.runbook: x` as a top-level key) is accepted too, but not
both spellings in one rule. Any other unknown
top-level key is an error, so a typo such as `levle:` does not pass silently.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sigma.correlations import SigmaCorrelationTimespan
from sigma.exceptions import SigmaTimespanError

from service.rules.fields import is_event_path
from service.rules.model import FirstSeen
from service.taxonomy import Category

CUSTOM_KEYS = frozenset({"runbook", "category", "dedup", "first_seen"})
_RUNBOOK_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class CustomError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Custom:
    runbook: str | None = None
    dedup: tuple[str, ...] = ()
    first_seen: FirstSeen | None = None
    category: str | None = None


def parse_custom(attributes: Mapping[str, Any], *, allowed: frozenset[str]) -> Custom:
    """Read `custom` from pySigma's custom_attributes; `allowed` are other tolerated keys."""
    nested = attributes.get("custom")
    dotted = {k[len("custom.") :]: v for k, v in attributes.items() if k.startswith("custom.")}
    for key in attributes:
        if key != "custom" and not key.startswith("custom.") and key not in allowed:
            raise CustomError(key, "unknown rule key (custom keys go under 'custom:')")
    if nested is not None and dotted:
        raise CustomError("custom", "use either a 'custom:' mapping or 'custom.*' keys, not both")
    if nested is None:
        values: Mapping[str, Any] = dotted
    elif isinstance(nested, Mapping):
        values = nested
    else:
        raise CustomError("custom", "must be a mapping")
    for key in values:
        if key not in CUSTOM_KEYS:
            raise CustomError(
                f"custom.{key}", f"unknown key; expected one of {sorted(CUSTOM_KEYS)}"
            )
    return Custom(
        runbook=_runbook(values.get("runbook")),
        dedup=_fields("custom.dedup", values.get("dedup", []), check_paths=False),
        first_seen=_first_seen(values.get("first_seen")),
        category=_category(values.get("category")),
    )


def _category(value: Any) -> str | None:
    if value is None:
        return None
    if value not in set(Category):
        raise CustomError("custom.category", f"must be one of {', '.join(Category)}")
    return str(value)


def _runbook(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _RUNBOOK_ID.match(value):
        raise CustomError("custom.runbook", "must be a runbook id like 'model-exfiltration'")
    return value


def _fields(where: str, value: Any, *, check_paths: bool) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise CustomError(where, "must be a list of field names")
    if len(set(value)) != len(value):
        raise CustomError(where, "lists a field twice")
    if check_paths:
        for path in value:
            if not is_event_path(path):
                raise CustomError(where, f"'{path}' is not an event field path")
    return tuple(value)


def _first_seen(value: Any) -> FirstSeen | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) - {"fields", "history"}:
        raise CustomError("custom.first_seen", "must be a mapping with 'fields' and 'history'")
    fields = _fields("custom.first_seen.fields", value.get("fields"), check_paths=True)
    if not fields:
        raise CustomError("custom.first_seen.fields", "needs at least one field")
    try:
        span = SigmaCorrelationTimespan(str(value.get("history")))
    except SigmaTimespanError as exc:
        raise CustomError("custom.first_seen.history", str(exc)) from exc
    return FirstSeen(fields=fields, history=timedelta(seconds=span.seconds))
