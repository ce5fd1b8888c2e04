"""Errors of the incidents domain; service.problems maps them to problem+json."""

from __future__ import annotations

from service.errors import Conflict, InvalidInput, NotFound, ServiceError


class IncidentNotFound(NotFound):
    title = "Incident not found"


class InvalidTransition(Conflict):
    """Carries `allowed`: the next states the current status permits."""

    title = "Invalid status transition"


class ResolveBlocked(Conflict):
    """Carries `open_steps`: required runbook steps still open."""

    title = "Required runbook steps are open"


class PreconditionRequired(ServiceError):
    status = 428
    title = "Precondition required"


class PreconditionFailed(ServiceError):
    status = 412
    title = "Precondition failed"


class UnknownEvidence(InvalidInput):
    title = "Unknown evidence"


class InvalidDuplicate(InvalidInput):
    title = "Invalid duplicate_of"


class InvalidChange(InvalidInput):
    title = "Invalid change"


class EntityNotFound(NotFound):
    title = "Entity not found"
