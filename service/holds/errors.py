"""Errors of the holds domain."""

from __future__ import annotations

from service.errors import Conflict, InvalidInput, NotFound


class HoldNotFound(NotFound):
    title = "Hold not found"


class HoldAlreadyReleased(Conflict):
    title = "Hold already released"


class InvalidHold(InvalidInput):
    title = "Invalid hold"


class ErasureRefused(Conflict):
    """The event is held: evidence of an incident still being worked, or under a hold."""

    title = "Erasure refused: legal hold"
