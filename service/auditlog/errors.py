"""Errors of the log domain."""

from __future__ import annotations

from service.errors import Conflict, InvalidInput, NotFound


class EventNotFound(NotFound):
    title = "Event not found"


class InvalidEvents(InvalidInput):
    title = "Invalid events"


class EventConflict(Conflict):
    title = "Idempotency key reused with different content"
