"""Errors of the snoozes domain."""

from __future__ import annotations

from service.errors import Conflict, InvalidInput, NotFound


class SnoozeNotFound(NotFound):
    title = "Snooze not found"


class SnoozeAlreadyReleased(Conflict):
    title = "Snooze already released"


class InvalidSnooze(InvalidInput):
    title = "Invalid snooze"
