"""Exceptions raised by the runbooks domain."""

from __future__ import annotations

from service.errors import NotFound
from service.runbooks.schemas import Problem


class RunbookError(Exception):
    """Base class for runbook errors."""


class RunbookLoadError(RunbookError):
    """A runbook file is invalid; `problems` lists every finding."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


class UnsafeTemplate(RunbookError):
    """A template tries to reach Python internals or unknown globals."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        self.line = line
        super().__init__(message)


class RunbookRenderError(RunbookError):
    """A template failed to render for a reason other than missing incident data."""


class NoRunbookFound(RunbookError):
    """No template matched and the fallback runbook is missing."""


class StepUpdateRejected(RunbookError):
    """A step status change breaks the runbook's rules (required, requires_note)."""


class RunbookNotFound(NotFound):
    title = "Runbook not found"
