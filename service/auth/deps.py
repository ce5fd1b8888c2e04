"""FastAPI dependencies that put a scope on every route.

`require(Scope.read)` authenticates the bearer token, checks the scope and the rate
limit, and returns the Principal. `public()` marks the few routes that need nothing.
Both leave a `custody_scope` mark on the dependency so a test can prove every route
in the app declared one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from fastapi import Request

from service.auth.errors import Forbidden, RateLimited, Unauthenticated
from service.auth.ratelimit import RateLimiter
from service.auth.schemas import GRANTS, Principal, Scope
from service.auth.service import AuthFailure, authenticate, record_failure
from service.db import session_scope
from service.logging import get_logger

log = get_logger(__name__)
PUBLIC = "public"


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _fail(request: Request, exc: AuthFailure, ip: str) -> None:
    """Every evaluated failure counts against the address; the 401 handler then writes
    it to the log (`record_auth_failure`), and the throttle bounds how many there are."""
    log.warning("auth.failure", reason=exc.reason, token_id=exc.token_id, client_ip=ip)
    request.app.state.auth_throttle.failed(ip)


def record_auth_failure(request: Request, exc: AuthFailure) -> None:
    """Append `auth.login.failure` for a refused token. Called by the 401 handler, after
    the request's own session is gone: on a write route that session holds SQLite's write
    lock, and writing from inside the request would wait on itself for busy_timeout."""
    state = request.app.state
    with session_scope(state.sessionmaker) as session:
        record_failure(
            session=session,
            reason=exc.reason,
            token_id=exc.token_id,
            ip=_client_ip(request) or "unknown",
            route=request.url.path,
        )


def authenticate_request(request: Request) -> Principal:
    secret = _bearer(request)
    if secret is None:
        raise Unauthenticated("Send an API token: Authorization: Bearer <token>")
    ip = _client_ip(request) or "unknown"
    throttle = request.app.state.auth_throttle
    wait = throttle.blocked_for(ip)
    if wait:
        # Not evaluated at all, valid token or not: an address that keeps failing gets
        # no more guesses until its budget refills. Counted, and logged in aggregate.
        throttle.refused(ip, request.url.path)
        raise RateLimited(
            "Too many failed authentications from this address",
            retry_after=RateLimiter.retry_after(wait),
        )
    try:
        with request.app.state.sessionmaker() as session:  # read-only: nothing to commit
            principal = authenticate(session=session, secret=secret)
    except AuthFailure as exc:
        _fail(request, exc, ip)
        raise
    structlog.contextvars.bind_contextvars(token_id=principal.token_id)
    return principal


def require(scope: Scope) -> Callable[..., Principal]:
    def dependency(request: Request) -> Principal:
        principal = authenticate_request(request)
        if scope not in GRANTS[principal.scope]:
            raise Forbidden(
                f"This route needs the {scope.value} scope; the token has {principal.scope.value}"
            )
        state = request.app.state
        limiter = state.ingest_limiter if scope == Scope.ingest else state.limiter
        wait = limiter.acquire(principal.token_id)
        if wait:
            raise RateLimited(
                "Rate limit exceeded for this token", retry_after=limiter.retry_after(wait)
            )
        request.state.principal = principal
        return principal

    dependency.custody_scope = scope.value  # type: ignore[attr-defined]
    dependency.__name__ = f"require_{scope.value}"
    return dependency


def public() -> Callable[..., None]:
    def dependency() -> None:
        return None

    dependency.custody_scope = PUBLIC  # type: ignore[attr-defined]
    return dependency


def declared_scope(dependency: Any) -> str | None:
    return getattr(dependency, "custody_scope", None)
