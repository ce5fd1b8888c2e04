"""Runbook instance progress and the rules for changing a step's status."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from service.runbooks.errors import StepUpdateRejected
from service.runbooks.schemas import Progress, StepStatus


def iter_steps(phases: Sequence[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
    """The steps of a stored instance's `phases` list, in order."""
    for phase in phases:
        yield from phase["steps"]


def progress(steps: Iterable[Mapping[str, Any]]) -> Progress:
    """Count step states; each step needs `id`, `required` and `status` (missing = open).

    Skipped steps count as handled in `percent`. `required_open` lists what blocks
    the incident from becoming `resolved`.
    """
    counts = dict.fromkeys(StepStatus, 0)
    required_open: list[str] = []
    for step in steps:
        status = StepStatus(step.get("status") or StepStatus.OPEN)
        counts[status] += 1
        if status is StepStatus.OPEN and step.get("required", False):
            required_open.append(str(step["id"]))
    total = sum(counts.values())
    handled = counts[StepStatus.DONE] + counts[StepStatus.SKIPPED]
    return {
        "done": counts[StepStatus.DONE],
        "skipped": counts[StepStatus.SKIPPED],
        "open": counts[StepStatus.OPEN],
        "total": total,
        "required_open": required_open,
        # Floor, so 100 means every step is really handled.
        "percent": handled * 100 // total if total else 100,
    }


def check_step_update(
    *, step: Mapping[str, Any], status: StepStatus | str, note: str | None
) -> None:
    """Raise StepUpdateRejected unless `step` may move to `status` with `note`.

    A required step cannot be skipped (otherwise `required` would mean nothing);
    skipping any step needs a note saying why; a `requires_note` step needs a note
    to be marked done. Reopening is always allowed.
    """
    status = StepStatus(status)
    has_note = bool(note and note.strip())
    if status is StepStatus.SKIPPED and step.get("required", False):
        raise StepUpdateRejected(f"step {step['id']!r} is required and cannot be skipped")
    if status is StepStatus.SKIPPED and not has_note:
        raise StepUpdateRejected(f"skipping step {step['id']!r} needs a note saying why")
    if status is StepStatus.DONE and step.get("requires_note", False) and not has_note:
        raise StepUpdateRejected(f"step {step['id']!r} needs a note to be marked done")
