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
      not_preceded_by:                     # detection rules only: an absence
        rule: adversarial_eval_ran         # id or name of a detection rule
        within: 30d
        fields: [resource.id]              # equal on both events
        optional_fields: [resource.version]  # compared only where both carry one
      exceeds_previous:                    # detection rules only: a regression
        value: attributes.failure_rate     # a number on the event
        by: 0.1                            # fire at previous + by or more
        series: [resource.id, attributes.task]  # a missing value is a value of its own
        version: resource.version          # previous = latest of another version
        within: 180d                       # how far back "previous" may be

The dotted spelling is also accepted as top-level keys (`custom.runbook: x`), but not
both spellings in one rule. Any other unknown top-level key is an error in Custody's own
rules, so a typo such as `levle:` does not pass silently; rules of a vendor logsource
(SigmaHQ's) may carry keys Custody does not know, and those are ignored.

For a vendor-logsource rule, `dedup` and `first_seen.fields` name vendor fields, mapped
the way its detection is (`to_path`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sigma.correlations import SigmaCorrelationTimespan
from sigma.exceptions import SigmaTimespanError

from service.rules.fields import is_event_path
from service.rules.model import ExceedsPrevious, FirstSeen, NotPrecededBy
from service.taxonomy import Category

CUSTOM_KEYS = frozenset(
    {"runbook", "category", "dedup", "first_seen", "not_preceded_by", "exceeds_previous"}
)
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
    not_preceded_by: NotPrecededBy | None = None
    exceeds_previous: ExceedsPrevious | None = None


def parse_custom(
    attributes: Mapping[str, Any],
    *,
    allowed: frozenset[str] | None,
    to_path: Callable[[str], str] | None = None,
) -> Custom:
    """Read `custom` from pySigma's custom_attributes; `allowed` are other tolerated keys
    (None: any). `to_path` maps a vendor field name to its event path."""
    nested = attributes.get("custom")
    dotted = {k[len("custom.") :]: v for k, v in attributes.items() if k.startswith("custom.")}
    for key in attributes:
        if allowed is None:
            break
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
    dedup = _fields("custom.dedup", values.get("dedup", []), check_paths=False, to_path=to_path)
    custom = Custom(
        runbook=_runbook(values.get("runbook")),
        dedup=dedup,
        first_seen=_first_seen(values.get("first_seen"), to_path),
        category=_category(values.get("category")),
        not_preceded_by=_not_preceded_by(values.get("not_preceded_by"), to_path),
        exceeds_previous=_exceeds_previous(values.get("exceeds_previous"), to_path),
    )
    kinds = [k for k in ("first_seen", "not_preceded_by", "exceeds_previous") if k in values]
    if len(kinds) > 1:
        raise CustomError(f"custom.{kinds[1]}", f"cannot be combined with custom.{kinds[0]}")
    return custom


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


def _fields(
    where: str, value: Any, *, check_paths: bool, to_path: Callable[[str], str] | None
) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise CustomError(where, "must be a list of field names")
    if len(set(value)) != len(value):
        raise CustomError(where, "lists a field twice")
    paths = [to_path(v) for v in value] if to_path is not None else list(value)
    if check_paths:
        for path in paths:
            if not is_event_path(path, raw=to_path is not None):
                raise CustomError(where, f"'{path}' is not an event field path")
    return tuple(paths)


def _first_seen(value: Any, to_path: Callable[[str], str] | None) -> FirstSeen | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) - {"fields", "history"}:
        raise CustomError("custom.first_seen", "must be a mapping with 'fields' and 'history'")
    fields = _fields(
        "custom.first_seen.fields", value.get("fields"), check_paths=True, to_path=to_path
    )
    if not fields:
        raise CustomError("custom.first_seen.fields", "needs at least one field")
    try:
        span = SigmaCorrelationTimespan(str(value.get("history")))
    except SigmaTimespanError as exc:
        raise CustomError("custom.first_seen.history", str(exc)) from exc
    return FirstSeen(fields=fields, history=timedelta(seconds=span.seconds))


def _timespan(where: str, value: Any) -> timedelta:
    try:
        span = SigmaCorrelationTimespan(str(value))
    except SigmaTimespanError as exc:
        raise CustomError(where, str(exc)) from exc
    return timedelta(seconds=span.seconds)


def _mapping(where: str, value: Any, required: set[str], optional: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or set(value) - required - optional:
        keys = ", ".join(f"'{k}'" for k in sorted(required | optional))
        raise CustomError(where, f"must be a mapping with keys among {keys}")
    for key in sorted(required):
        if key not in value:
            raise CustomError(f"{where}.{key}", "is required")
    return value


def _not_preceded_by(value: Any, to_path: Callable[[str], str] | None) -> NotPrecededBy | None:
    if value is None:
        return None
    where = "custom.not_preceded_by"
    spec = _mapping(where, value, {"rule", "within", "fields"}, {"optional_fields"})
    rule = spec["rule"]
    if not isinstance(rule, str) or not rule:
        raise CustomError(f"{where}.rule", "must be the id or name of a detection rule")
    fields = _fields(f"{where}.fields", spec["fields"], check_paths=True, to_path=to_path)
    if not fields:
        raise CustomError(f"{where}.fields", "needs at least one field")
    optional = _fields(
        f"{where}.optional_fields", spec.get("optional_fields", []), check_paths=True,
        to_path=to_path,
    )  # fmt: skip
    if set(optional) & set(fields):
        raise CustomError(f"{where}.optional_fields", "repeats a field of 'fields'")
    return NotPrecededBy(
        rule=rule,
        within=_timespan(f"{where}.within", spec["within"]),
        fields=fields,
        optional_fields=optional,
    )


def _exceeds_previous(value: Any, to_path: Callable[[str], str] | None) -> ExceedsPrevious | None:
    if value is None:
        return None
    where = "custom.exceeds_previous"
    spec = _mapping(where, value, {"value", "by", "series", "within"}, {"version"})
    (field,) = _fields(f"{where}.value", [spec["value"]], check_paths=True, to_path=to_path)
    by = spec["by"]
    if isinstance(by, bool) or not isinstance(by, int | float) or not 0 <= by < float("inf"):
        raise CustomError(f"{where}.by", "must be a number, 0 or more")
    series = _fields(f"{where}.series", spec["series"], check_paths=True, to_path=to_path)
    version: str | None = None
    if spec.get("version") is not None:
        (version,) = _fields(
            f"{where}.version", [spec["version"]], check_paths=True, to_path=to_path
        )
        if version in series:
            raise CustomError(f"{where}.version", "is also a series field")
    return ExceedsPrevious(
        value=field,
        by=float(by),
        series=series,
        version=version,
        within=_timespan(f"{where}.within", spec["within"]),
    )
