"""Choose the runbook for a new incident."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from service.runbooks.errors import NoRunbookFound
from service.runbooks.schemas import RunbookTemplate, Severity

FALLBACK_RUNBOOK_ID = "generic-ai-incident"


def select_runbook(
    templates: Sequence[RunbookTemplate],
    *,
    explicit_id: str | None,
    rule_id: str | None,
    tags: Iterable[str],
    severity: Severity | str,
) -> RunbookTemplate:
    """Pick a runbook, first rule that applies wins:

    1. `explicit_id` (the rule's `custom.runbook`), regardless of `severity_min`:
       the rule author chose it. An unknown id falls through (and `check_dir` reports it).
    2. A template whose `applies_to` names `rule_id` and whose `severity_min` is met.
    3. A template whose `applies_to` names one of `tags` (most matching tags first)
       and whose `severity_min` is met.
    4. The `generic-ai-incident` fallback; NoRunbookFound if it is missing.

    Ties go to the higher `severity_min` (the more specific runbook), then the id.
    Matching ignores case: Sigma tags and rule UUIDs are case-insensitive in practice.
    """
    by_id = {t.id: t for t in templates}
    if explicit_id and explicit_id in by_id:
        return by_id[explicit_id]
    rank = Severity(severity).rank
    eligible = [t for t in templates if t.severity_min is None or t.severity_min.rank <= rank]
    if rule_id:
        wanted = rule_id.lower()
        hits = [t for t in eligible if wanted in _applies_to(t)]
        if hits:
            return min(hits, key=lambda t: (-_specificity(t), t.id))
    tag_set = {tag.lower() for tag in tags}
    scored = [(len(tag_set & _applies_to(t)), t) for t in eligible]
    scored = [(n, t) for n, t in scored if n]
    if scored:
        return min(scored, key=lambda item: (-item[0], -_specificity(item[1]), item[1].id))[1]
    if FALLBACK_RUNBOOK_ID in by_id:
        return by_id[FALLBACK_RUNBOOK_ID]
    raise NoRunbookFound(f"no runbook matched and the fallback {FALLBACK_RUNBOOK_ID!r} is missing")


def _applies_to(template: RunbookTemplate) -> set[str]:
    return {entry.lower() for entry in template.applies_to}


def _specificity(template: RunbookTemplate) -> int:
    return template.severity_min.rank if template.severity_min else -1
