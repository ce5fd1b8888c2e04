"""Load a directory of Sigma rule files into `Rule`s, rejecting bad files one by one.

Files: `*.yml` / `*.yaml` anywhere under the directory except inside a `tests/` folder
(that is where rule test cases live, see `service.rules.testing`) or a hidden one. A file
may hold several YAML documents, e.g. base detection rules followed by the correlation
that uses them; correlations may also reference rules in other files, by `name` or `id`.

A file with any problem (YAML, Sigma, unknown field, unsupported feature, dangling or
cyclic reference, duplicate id/name) is rejected as a whole with a `RuleLoadError`
naming the file and the field; the other files still load. A correlation referencing a
rejected file's rule is rejected in turn.

Every rule needs `id` (a UUID), `title` and `level`. Rules referenced by a correlation
do not fire on their own unless that correlation sets `generate: true` (Sigma semantics).

A rule's `logsource` decides its field names (`service.rules.logsources`): Custody's event
paths for `product: custody`, the vendor's for a vendor logsource (through that
logsource's pySigma processing pipeline). Valid Sigma that Custody cannot run (another
logsource, an unsupported modifier, a `deprecated` rule...) is rejected like a broken file,
but the error says so (`RuleLoadError.unsupported`), which `custody rules check|import`
count apart.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from sigma import exceptions as sx
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule, SigmaExtendedCorrelationCondition
from sigma.rule import SigmaRule
from sigma.rule.base import SigmaYAMLLoader

from service.rules.compile import UnsupportedDetection, compile_detection
from service.rules.correlate import CorrelationError, resolve_correlation
from service.rules.custom import Custom, CustomError, parse_custom
from service.rules.fields import is_event_path
from service.rules.logsources import (
    UnsupportedLogsource,
    VendorLogsource,
    pipeline,
    resolve,
)
from service.rules.model import Predicate, Rule, RuleLoadError, Severity
from service.rules.parsed import Parsed

_LEVELS = {
    "informational": Severity.INFO,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
}
# pySigma errors carry no field name; their class tells which part of the rule is wrong.
_ERROR_FIELDS: list[tuple[type[Exception], str]] = [
    (sx.SigmaTimespanError, "correlation.timespan"),
    (sx.SigmaCorrelationConditionError, "correlation.condition"),
    (sx.SigmaCorrelationTypeError, "correlation.type"),
    (sx.SigmaCorrelationRuleError, "correlation"),
    (sx.SigmaTitleError, "title"),
    (sx.SigmaIdentifierError, "id"),
    (sx.SigmaNameError, "name"),
    (sx.SigmaLevelError, "level"),
    (sx.SigmaStatusError, "status"),
    (sx.SigmaTagError, "tags"),
    (sx.SigmaLogsourceError, "logsource"),
    (sx.SigmaConditionError, "detection.condition"),
    (sx.SigmaModifierError, "detection"),
    (sx.SigmaDetectionError, "detection"),
    (sx.SigmaValueError, "detection"),
    (sx.SigmaDateError, "date"),
    (sx.SigmaModifiedError, "modified"),
    (sx.SigmaRelatedError, "related"),
    (sx.SigmaDescriptionError, "description"),
]


_STRING_KEYS = ("id", "title", "name", "level", "status", "description", "author")


class _FileRejected(Exception):
    def __init__(self, errors: list[RuleLoadError]) -> None:
        super().__init__(errors[0].message)
        self.errors = errors


def rule_files(*, directory: Path) -> list[Path]:
    """Rule files under `directory`, sorted, skipping `tests/` and hidden folders (a
    rules repository checkout has `.github/` workflows, which are YAML but not rules)."""
    return sorted(
        p
        for p in directory.rglob("*")
        if p.suffix in (".yml", ".yaml")
        and p.is_file()
        and not any(
            part == "tests" or part.startswith(".") for part in p.relative_to(directory).parts[:-1]
        )
    )


def load_rules(*, directory: Path) -> tuple[list[Rule], list[RuleLoadError]]:
    """Load every rule file under `directory`; returns (rules, errors)."""
    return load_rule_files(paths=rule_files(directory=directory))


def load_rule_files(*, paths: Iterable[Path]) -> tuple[list[Rule], list[RuleLoadError]]:
    errors: list[RuleLoadError] = []
    files: dict[Path, list[Parsed]] = {}
    for path in paths:
        try:
            files[path] = _parse_file(path)
        except _FileRejected as exc:
            errors.extend(exc.errors)
    _drop_duplicates(files, errors)
    rules = _resolve(files, errors)
    return rules, errors


def _parse_file(path: Path) -> list[Parsed]:
    try:
        raw = path.read_bytes()
        docs = list(yaml.load_all(raw, Loader=SigmaYAMLLoader))
    except (OSError, yaml.YAMLError) as exc:
        raise _FileRejected([RuleLoadError(path, f"cannot read YAML: {exc}")]) from exc
    parsed = [_parse_doc(path, doc) for doc in docs if doc is not None]
    if not parsed:
        raise _FileRejected([RuleLoadError(path, "no rule in file")])
    return parsed


def _parse_doc(path: Path, doc: Any) -> Parsed:
    if not isinstance(doc, dict):
        raise _FileRejected([RuleLoadError(path, "a YAML document must be a mapping")])
    label = str(doc.get("id") or doc.get("title") or "") or None
    for key in ("action", "filter"):
        if key in doc:
            raise _FileRejected(
                [
                    RuleLoadError(
                        path,
                        f"Sigma '{key}' documents are not supported",
                        key,
                        label,
                        unsupported="document",
                    )
                ]
            )
    for key in _STRING_KEYS:
        # pySigma assumes these are strings and fails with AttributeError otherwise.
        if key in doc and not isinstance(doc[key], str):
            raise _FileRejected([RuleLoadError(path, "must be a string", key, label)])
    try:
        # collect_errors gathers most problems, but some constructors still raise.
        collection = SigmaCollection.from_dicts(
            [copy.deepcopy(doc)], collect_errors=True, resolve_references=False
        )
    except sx.SigmaError as exc:
        raise _FileRejected([_sigma_error(path, label, exc)]) from exc
    except (AttributeError, TypeError) as exc:  # pySigma on a value of an unexpected type
        raise _FileRejected([RuleLoadError(path, f"malformed rule: {exc}", None, label)]) from exc
    if collection.errors:
        raise _FileRejected([_sigma_error(path, label, e) for e in collection.errors])
    sigma = collection.rules[0]
    if sigma.id is None:
        raise _FileRejected([RuleLoadError(path, "every rule needs a UUID id", "id", label)])
    label = str(sigma.id)
    if sigma.level is None:
        raise _FileRejected([RuleLoadError(path, "every rule needs a level", "level", label)])
    is_corr = isinstance(sigma, SigmaCorrelationRule)
    status = str(sigma.status) if sigma.status is not None else None
    if status in ("deprecated", "unsupported"):
        raise _FileRejected(
            [
                RuleLoadError(
                    path,
                    f"the rule is {status}: its authors say it should not run",
                    "status",
                    label,
                    unsupported="deprecated" if status == "deprecated" else "status",
                )
            ]
        )
    vendor = _vendor(path, label, sigma)
    try:
        # Community rules carry keys Custody does not know; only its own rules are strict.
        allowed = frozenset({"correlation"}) if is_corr else frozenset()
        custom = parse_custom(
            sigma.custom_attributes,
            allowed=None if vendor is not None else allowed,
            to_path=vendor.field_path if vendor is not None else None,
        )
        predicate, actions, dispatch = _detection(sigma, custom, vendor)
        if isinstance(sigma, SigmaCorrelationRule) and isinstance(
            sigma.condition, SigmaExtendedCorrelationCondition
        ):
            raise CustomError(
                "correlation.condition", "extended (string) conditions are not supported"
            )
    except CustomError as exc:
        raise _FileRejected([RuleLoadError(path, str(exc), exc.field, label)]) from exc
    except UnsupportedDetection as exc:
        raise _FileRejected(
            [RuleLoadError(path, str(exc), "detection", label, unsupported=exc.kind)]
        ) from exc
    except sx.SigmaError as exc:  # pySigma parses the condition lazily, i.e. here
        raise _FileRejected([_sigma_error(path, label, exc)]) from exc
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
    return Parsed(
        path=path,
        doc=doc,
        sigma=sigma,
        custom=custom,
        own_hash=hashlib.sha256(canonical.encode()).hexdigest(),
        predicate=predicate,
        actions=actions,
        dispatch=dispatch,
        vendor=vendor,
    )


def _vendor(
    path: Path, label: str, sigma: SigmaRule | SigmaCorrelationRule
) -> VendorLogsource | None:
    """Resolve a detection rule's logsource and run its processing pipeline on the rule."""
    if not isinstance(sigma, SigmaRule):
        return None
    try:
        vendor = resolve(sigma)
        if vendor is not None:
            pipeline(vendor).apply(sigma)
    except UnsupportedLogsource as exc:
        raise _FileRejected(
            [RuleLoadError(path, str(exc), "logsource", label, unsupported="logsource")]
        ) from exc
    except sx.SigmaError as exc:
        raise _FileRejected([_sigma_error(path, label, exc)]) from exc
    return vendor


def _detection(
    sigma: SigmaRule | SigmaCorrelationRule, custom: Custom, vendor: VendorLogsource | None
) -> tuple[Predicate | None, frozenset[str] | None, Predicate | None]:
    if isinstance(sigma, SigmaCorrelationRule):
        if custom.first_seen is not None:
            raise CustomError("custom.first_seen", "only detection rules can be first-seen rules")
        for key in ("not_preceded_by", "exceeds_previous"):
            if getattr(custom, key) is not None:
                raise CustomError(f"custom.{key}", "only detection rules can use it")
        return None, None, None
    for path in custom.dedup:
        if not is_event_path(path, raw=vendor is not None):
            raise CustomError("custom.dedup", f"'{path}' is not an event field path")
    if vendor is None:
        return compile_detection(sigma)
    return compile_detection(sigma, raw=True, index=vendor.index)


def _sigma_error(path: Path, label: str | None, error: Exception) -> RuleLoadError:
    field = next((f for cls, f in _ERROR_FIELDS if isinstance(error, cls)), None)
    message = str(error.args[0]) if error.args else str(error)
    # A modifier pySigma does not know is most often a newer one, not a typo.
    unsupported = "modifier" if isinstance(error, sx.SigmaModifierError) else None
    return RuleLoadError(path, message, field, label, unsupported=unsupported)


def _drop_duplicates(files: dict[Path, list[Parsed]], errors: list[RuleLoadError]) -> None:
    """A later file re-using an id or name is rejected; first come (sorted path) wins."""
    seen: dict[str, Path] = {}
    for path in list(files):
        keys = [(p.rule_id, "id") for p in files[path]]
        keys += [(p.sigma.name, "name") for p in files[path] if p.sigma.name]
        clash = next(((k, f) for k, f in keys if k in seen or keys.count((k, f)) > 1), None)
        if clash is not None:
            key, field = clash
            errors.append(RuleLoadError(path, f"duplicate rule {field} '{key}'", field, key))
            del files[path]
            continue
        seen.update({k: path for k, _ in keys})


def _resolve(files: dict[Path, list[Parsed]], errors: list[RuleLoadError]) -> list[Rule]:
    """Resolve correlation references across files; reject files until all resolve."""
    while not _resolve_pass(files, errors, cycles=False) or not _resolve_pass(
        files, errors, cycles=True
    ):
        pass
    parsed_all = [p for ps in files.values() for p in ps]
    built: dict[str, Rule] = {}
    silent = {
        ref.rule_id
        for p in parsed_all
        if isinstance(p.sigma, SigmaCorrelationRule) and not p.sigma.generate
        for ref in p.refs
    } | {p.preceding.rule_id for p in parsed_all if p.preceding is not None}
    for parsed in parsed_all:
        _build(parsed, built, silent)
    return [built[p.rule_id] for p in parsed_all]


def _resolve_pass(
    files: dict[Path, list[Parsed]], errors: list[RuleLoadError], *, cycles: bool
) -> bool:
    """One pass over the surviving files; False when it rejected one (so: go again)."""
    by_key: dict[str, Parsed] = {}
    for parsed in (p for ps in files.values() for p in ps):
        by_key[parsed.rule_id] = parsed
        if parsed.sigma.name:
            by_key[parsed.sigma.name] = parsed
    clean = True
    for path, parsed_list in list(files.items()):
        try:
            for parsed in parsed_list:
                if cycles:
                    _check_cycles(parsed)
                else:
                    resolve_correlation(parsed, by_key)
                    _resolve_preceding(parsed, by_key)
        except CorrelationError as exc:
            errors.append(RuleLoadError(path, str(exc), exc.field, exc.rule))
            del files[path]
            clean = False
    return clean


def _resolve_preceding(parsed: Parsed, by_key: dict[str, Parsed]) -> None:
    """`custom.not_preceded_by.rule` must name a plain detection rule (no extension of
    its own), so what it remembers is a match and never a firing."""
    spec = parsed.custom.not_preceded_by
    if spec is None:
        return
    where = "custom.not_preceded_by.rule"
    target = parsed.lookup(by_key, spec.rule, where)
    custom = target.custom
    if (
        isinstance(target.sigma, SigmaCorrelationRule)
        or target is parsed
        or custom.first_seen is not None
        or custom.not_preceded_by is not None
        or custom.exceeds_previous is not None
    ):
        raise CorrelationError(
            where, f"'{spec.rule}' is not a plain detection rule", parsed.rule_id
        )
    parsed.preceding = target


def _check_cycles(parsed: Parsed) -> None:
    stack: list[tuple[Parsed, tuple[str, ...]]] = [(parsed, (parsed.rule_id,))]
    while stack:
        node, trail = stack.pop()
        for ref in node.refs:
            if ref.rule_id in trail:
                raise CorrelationError(
                    "correlation.rules", "correlation references form a cycle", parsed.rule_id
                )
            stack.append((ref, (*trail, ref.rule_id)))


def _build(parsed: Parsed, built: dict[str, Rule], silent: set[str]) -> Rule:
    if parsed.rule_id in built:
        return built[parsed.rule_id]
    used = [*parsed.refs, *([parsed.preceding] if parsed.preceding is not None else [])]
    children = [_build(ref, built, silent) for ref in used]
    content_hash = parsed.own_hash
    if children:
        # A correlation behaves differently when a rule it uses changes: hash those too.
        mixed = parsed.own_hash + "".join(c.content_hash for c in children)
        content_hash = hashlib.sha256(mixed.encode()).hexdigest()
    sigma = parsed.sigma
    level = sigma.level
    rule = Rule(
        id=parsed.rule_id,
        name=sigma.name,
        title=sigma.title,
        description=sigma.description or "",
        severity=_LEVELS[str(level)],
        tags=tuple(str(t) for t in sigma.tags),
        runbook=parsed.custom.runbook,
        dedup=parsed.custom.dedup,
        path=parsed.path,
        content_hash=content_hash,
        emits=parsed.rule_id not in silent,
        document=parsed.doc,
        predicate=parsed.predicate,
        actions=parsed.actions,
        dispatch=parsed.dispatch,
        first_seen=parsed.custom.first_seen,
        correlation=parsed.correlation,
        category=parsed.custom.category,
        vendor_source=parsed.vendor.source if parsed.vendor is not None else None,
        index=parsed.vendor.index if parsed.vendor is not None else "action",
        not_preceded_by=(
            replace(parsed.custom.not_preceded_by, rule=parsed.preceding.rule_id)
            if parsed.custom.not_preceded_by is not None and parsed.preceding is not None
            else None
        ),
        exceeds_previous=parsed.custom.exceeds_previous,
    )
    built[rule.id] = rule
    return rule
