"""Authentication and authorization failures."""

from __future__ import annotations

from service.errors import NotFound, ServiceError


class Unauthenticated(ServiceError):
    status = 401
    title = "Unauthenticated"


class Forbidden(ServiceError):
    status = 403
    title = "Forbidden"


class RateLimited(ServiceError):
    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class TokenNotFound(NotFound):
    title = "Token not found"
