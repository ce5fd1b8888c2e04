"""Turn a parsed Sigma correlation into a `Correlation`, checking fields and aliases."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from sigma.correlations import SigmaCorrelationCondition, SigmaCorrelationRule

from service.rules.fields import is_event_path
from service.rules.model import ConditionOp, Correlation, CorrelationType
from service.rules.parsed import CorrelationError, Parsed

__all__ = ["CorrelationError", "resolve_correlation"]


def resolve_correlation(parsed: Parsed, by_key: Mapping[str, Parsed]) -> None:
    """Resolve references and build `parsed.correlation`; raises CorrelationError."""
    sigma = parsed.sigma
    if not isinstance(sigma, SigmaCorrelationRule):
        return
    rid = parsed.rule_id
    try:
        ctype = CorrelationType(str(sigma.type))
    except ValueError:
        raise CorrelationError(
            "correlation.type", f"'{sigma.type}' is not supported", rid
        ) from None
    parsed.refs = [
        parsed.lookup(by_key, ref.reference, "correlation.rules") for ref in sigma.rules or []
    ]
    if not parsed.refs:
        raise CorrelationError("correlation.rules", "needs at least one rule", rid)
    for ref in parsed.refs:
        # Their firings are decided apart from their matches: nothing to feed a window.
        if ref.custom.not_preceded_by is not None or ref.custom.exceeds_previous is not None:
            raise CorrelationError(
                "correlation.rules",
                f"'{ref.rule_id}' uses not_preceded_by or exceeds_previous: not correlatable",
                rid,
            )
    aliases: dict[str, dict[str, str]] = {}
    for alias in sigma.aliases:
        aliases[alias.alias] = {
            parsed.lookup(by_key, ref.reference, "correlation.aliases").rule_id: path
            for ref, path in alias.mapping.items()
        }
    group_by = parsed.group_by
    if len(set(group_by)) != len(group_by):
        raise CorrelationError("correlation.group-by", "lists a field twice", rid)
    for path in parsed.custom.dedup:
        if path not in group_by:
            raise CorrelationError("custom.dedup", f"'{path}' is not a group-by field", rid)
    group_paths = {
        ref.rule_id: tuple(
            _path(parsed, aliases, name, ref, "correlation.group-by") for name in group_by
        )
        for ref in parsed.refs
    }
    condition = sigma.condition
    if not isinstance(condition, SigmaCorrelationCondition):
        raise CorrelationError(
            "correlation.condition", "extended conditions are not supported", rid
        )
    op = ConditionOp(condition.op.name.lower())
    value_paths: dict[str, str] = {}
    if ctype is CorrelationType.VALUE_COUNT:
        if not isinstance(condition.fieldref, str):
            raise CorrelationError("correlation.condition.field", "must be one field name", rid)
        name = condition.fieldref
        value_paths = {
            ref.rule_id: _path(parsed, aliases, name, ref, "correlation.condition.field")
            for ref in parsed.refs
        }
    distinct = len({ref.rule_id for ref in parsed.refs})
    if ctype is CorrelationType.TEMPORAL and not op.monotone:
        raise CorrelationError("correlation.condition", "temporal supports gt/gte only", rid)
    if ctype is CorrelationType.TEMPORAL_ORDERED and not (
        op is ConditionOp.GTE and condition.count == len(parsed.refs)
    ):
        raise CorrelationError(
            "correlation.condition",
            "temporal_ordered needs the whole sequence (default condition)",
            rid,
        )
    count = float(condition.count)
    if ctype is CorrelationType.TEMPORAL:
        # pySigma's default is "gte number of rules"; a rule listed twice counts once.
        count = min(count, float(distinct))
    parsed.correlation = Correlation(
        type=ctype,
        refs=tuple(ref.rule_id for ref in parsed.refs),
        group_by=group_by,
        group_paths=group_paths,
        timespan=timedelta(seconds=sigma.timespan.seconds),
        op=op,
        count=count,
        value_paths=value_paths,
        generate=sigma.generate,
    )


def _path(
    parsed: Parsed, aliases: Mapping[str, Mapping[str, str]], name: str, ref: Parsed, where: str
) -> str:
    """The field to read from `ref`'s matches for group-by (or value) field `name`."""
    if name in aliases:
        if ref.rule_id not in aliases[name]:
            raise CorrelationError(
                "correlation.aliases",
                f"alias '{name}' has no field for rule '{ref.rule_id}'",
                parsed.rule_id,
            )
        path = aliases[name][ref.rule_id]
    else:
        path = name
    if isinstance(ref.sigma, SigmaCorrelationRule):
        if path not in ref.group_by:
            raise CorrelationError(
                where,
                f"'{path}' is not a group-by field of correlation '{ref.rule_id}'",
                parsed.rule_id,
            )
        return path
    if ref.vendor is not None:
        # Field names are those of the referenced rule's logsource (Sigma semantics): a
        # SigmaHQ CloudTrail rule groups by `userIdentity.arn`, a Custody rule by `actor.id`.
        path = ref.vendor.field_path(path)
    if not is_event_path(path, raw=ref.vendor is not None):
        raise CorrelationError(where, f"'{path}' is not an event field path", parsed.rule_id)
    return path
