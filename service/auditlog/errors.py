"""Errors of the log domain."""

from __future__ import annotations

from service.errors import Conflict, InvalidInput, NotFound, ServiceError


class EventNotFound(NotFound):
    title = "Event not found"


class InvalidEvents(InvalidInput):
    title = "Invalid events"


class EventConflict(Conflict):
    title = "Idempotency key reused with different content"


class EventArchived(ServiceError):
    """The record was moved to an evidence bundle by `custody archive` and dropped."""

    status = 410
    title = "Event archived"
