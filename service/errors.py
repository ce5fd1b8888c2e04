"""Errors every domain raises; `service.problems` turns them into RFC 9457 responses."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base for domain errors: carries the HTTP status and a problem title."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, errors: list[Any] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.extra = extra


class NotFound(ServiceError):
    status = 404
    title = "Not found"


class InvalidInput(ServiceError):
    status = 422
    title = "Invalid input"


class Conflict(ServiceError):
    status = 409
    title = "Conflict"


class PayloadTooLarge(ServiceError):
    status = 413
    title = "Payload too large"


class UnsupportedMediaType(ServiceError):
    status = 415
    title = "Unsupported media type"
