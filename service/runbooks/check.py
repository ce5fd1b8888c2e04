"""`custody runbooks check`: everything that can be wrong with a runbooks directory."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from service.runbooks.loader import load_dir
from service.runbooks.match import FALLBACK_RUNBOOK_ID
from service.runbooks.schemas import Problem


def check_dir(
    runbooks_dir: Path | str,
    rule_runbook_refs: Iterable[tuple[str, str]] = (),
) -> list[Problem]:
    """All problems in `runbooks_dir`; empty means the directory is good to ship.

    Covers each file (front matter schema, phases, unique step ids, step sections,
    template safety, sample renders), unique runbook ids, the presence of the
    fallback runbook, and `rule_runbook_refs`: (rule file, runbook id) pairs taken
    from rules' `custom.runbook`, each of which must name a loaded runbook.
    """
    templates, problems = load_dir(runbooks_dir)
    ids = {t.id for t in templates}
    if FALLBACK_RUNBOOK_ID not in ids:
        problems.append(
            Problem(
                file=str(runbooks_dir),
                field="id",
                message=f"the fallback runbook {FALLBACK_RUNBOOK_ID!r} is missing",
            )
        )
    for rule_file, runbook_id in rule_runbook_refs:
        if runbook_id not in ids:
            problems.append(
                Problem(
                    file=rule_file,
                    field="custom.runbook",
                    message=f"unknown runbook id {runbook_id!r} (known: {', '.join(sorted(ids))})",
                )
            )
    return problems
