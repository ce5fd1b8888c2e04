"""RFC 9457 problem+json for every error the API returns."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg
import structlog
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.auth.errors import RateLimited
from service.availability import unavailable_reason
from service.errors import ServiceError

log = structlog.get_logger(__name__)
PROBLEM = "application/problem+json"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _loc(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:] if len(parts) > 1 else parts
    return ".".join(parts)


def _allowed(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.routes:
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(request.url.path) and getattr(route, "methods", None):
            methods |= set(route.methods)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        from service.auth.deps import record_auth_failure
        from service.auth.service import AuthFailure

        if isinstance(exc, AuthFailure):
            await run_in_threadpool(record_auth_failure, request, exc)
        headers = None
        if isinstance(exc, RateLimited):
            headers = {"Retry-After": str(exc.retry_after)}
        if exc.status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        return problem(
            exc.status,
            exc.title,
            exc.detail,
            instance=request.url.path,
            headers=headers,
            errors=exc.errors,
            **exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _loc(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()]
        return problem(
            422,
            "Invalid request",
            "; ".join(f"{e['field']}: {e['message']}" for e in errors),
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            # Starlette names only the first matching route's methods; a path served by
            # several routes (GET and PATCH /v1/incidents/{id}) allows them all.
            headers = {**(headers or {}), "Allow": ", ".join(_allowed(request))}
        return problem(
            exc.status_code,
            str(exc.detail),
            str(exc.detail),
            instance=request.url.path,
            headers=headers,
        )

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: OverflowError) -> JSONResponse:
        # A number from the request that the database cannot bind (SQLite: beyond 64 bits).
        return problem(
            422,
            "Invalid request",
            "A number in the request is out of range",
            instance=request.url.path,
        )

    @app.exception_handler(DataError)
    async def _data_error(request: Request, exc: DataError) -> JSONResponse:
        # PostgreSQL's refusal of a value from the request (out of range, bad encoding).
        log.warning("request.data_error", path=request.url.path, error=str(exc.orig)[:200])
        return problem(
            422,
            "Invalid request",
            "A value in the request cannot be stored or compared (out of range or malformed)",
            instance=request.url.path,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _failed(request, exc)

    @app.exception_handler(DBAPIError)
    @app.exception_handler(SATimeoutError)
    @app.exception_handler(sqlite3.Error)
    @app.exception_handler(psycopg.Error)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        reason = unavailable_reason(exc)
        if reason is None:
            return _failed(request, exc)
        request.app.state.write_health.failed(reason)
        log.warning("database.unavailable", path=request.url.path, reason=reason)
        retry = request.app.state.settings.unavailable_retry_after
        return problem(
            503,
            "Service unavailable",
            f"The database cannot take requests now ({reason}). Retry in {retry} s; "
            "nothing was acknowledged, and events with ids are never stored twice.",
            instance=request.url.path,
            headers={"Retry-After": str(retry)},
        )


def _failed(request: Request, exc: Exception) -> JSONResponse:
    log.error("request.failed", path=request.url.path, exc_info=exc)
    return problem(
        500,
        "Internal server error",
        "The server failed; nothing from this request was acknowledged.",
        instance=request.url.path,
    )
