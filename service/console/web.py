"""What every console page shares: templates, security headers, sign-in and CSRF checks.

Console routes declare `console:<scope>` (not the API's bearer scopes): the credential
is the session cookie, and the scope it carries is enforced exactly as the API does.
"""

from __future__ import annotations

import hmac
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from service.auth.errors import Forbidden, RateLimited, Unauthenticated
from service.auth.schemas import GRANTS, Scope
from service.body import read_body
from service.console.sessions import Signed, resolve
from service.errors import InvalidInput, ServiceError

HERE = Path(__file__).parent
COOKIE = "custody_console"
LOGIN_CSRF_COOKIE = "custody_console_login"
PREFIX = "/console"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: dict[str, Any]) -> M:
    """The model, or a 422 naming each bad field (as the API's problem+json does)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise InvalidInput(detail, errors=errors) from None


def _when(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return str(value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds >= 86400:
        return f"{sign}{seconds // 86400}d {seconds % 86400 // 3600}h"
    if seconds >= 3600:
        return f"{sign}{seconds // 3600}h {seconds % 3600 // 60}m"
    return f"{sign}{seconds // 60}m {seconds % 60}s"


templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters["when"] = _when
templates.env.filters["duration"] = _duration
templates.env.filters["q"] = lambda v: quote(str(v), safe="")


def secure(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any],
    *,
    signed: Signed | None,
    status: int = 200,
) -> Response:
    scope = signed.principal.scope if signed else None
    full = {
        "signed": signed,
        "csrf": signed.csrf if signed else "",
        "can_respond": scope is not None and Scope.respond in GRANTS[scope],
        "can_admin": scope is Scope.admin,
        "path": request.url.path,
        **context,
    }
    response = templates.TemplateResponse(request, name, full, status_code=status)
    return secure(response)


def redirect(url: str) -> Response:
    return secure(RedirectResponse(url, status_code=303))


class SignInRequired(Unauthenticated):
    """No live session: a page sends the browser to the sign-in form."""


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _signed(request: Request, scope: Scope) -> Signed:
    cookie = request.cookies.get(COOKIE)
    with request.app.state.sessionmaker() as session:  # read-only
        signed = resolve(session=session, cookie=cookie) if cookie else None
    if signed is None:
        raise SignInRequired("Sign in to the console with an API token")
    held = signed.principal.scope
    if scope not in GRANTS[held]:
        raise Forbidden(f"This needs the {scope.value} scope; your token has {held.value}")
    limiter = request.app.state.limiter
    wait = limiter.acquire(signed.principal.token_id)
    if wait:
        raise RateLimited(
            "Rate limit exceeded for this token", retry_after=limiter.retry_after(wait)
        )
    structlog.contextvars.bind_contextvars(token_id=signed.principal.token_id)
    request.state.principal = signed.principal
    return signed


def page(scope: Scope) -> Callable[[Request], Signed]:
    """Dependency of a page (GET): the signed-in session holding `scope`."""

    def dependency(request: Request) -> Signed:
        return _signed(request, scope)

    dependency.custody_scope = f"console:{scope.value}"  # type: ignore[attr-defined]
    return dependency


@dataclass(frozen=True)
class Posted:
    signed: Signed
    form: dict[str, str]

    def get(self, name: str) -> str:
        return self.form.get(name, "").strip()


async def read_form(request: Request) -> dict[str, str]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise InvalidInput(
            "Console forms are sent as application/x-www-form-urlencoded",
            errors=[{"field": "body", "message": "not a form"}],
        )
    body = await read_body(request)
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=200))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(
            "The form is not readable", errors=[{"field": "body", "message": str(exc)}]
        ) from None


def check_csrf(expected: str, form: Mapping[str, str]) -> None:
    sent = form.get("csrf", "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Forbidden(
            "The form's CSRF token is missing or stale; reload the page and try again",
            errors=[{"field": "csrf", "message": "missing or does not match the session"}],
        )


def form(scope: Scope) -> Callable[[Request], Awaitable[Posted]]:
    """Dependency of a form post: session with `scope`, and a matching CSRF token."""

    async def dependency(request: Request) -> Posted:
        signed = await run_in_threadpool(_signed, request, scope)
        fields = await read_form(request)
        check_csrf(signed.csrf, fields)
        return Posted(signed, fields)

    dependency.custody_scope = f"console:{scope.value}"  # type: ignore[attr-defined]
    return dependency


def install_errors(app: FastAPI) -> None:
    """Console requests get an HTML page for domain errors; the API keeps problem+json."""
    api_handler = app.exception_handlers[ServiceError]

    async def handler(request: Request, exc: Exception) -> Response:
        if not request.url.path.startswith(PREFIX) or not isinstance(exc, ServiceError):
            result = api_handler(request, exc)
            return await result if inspect.isawaitable(result) else result
        if isinstance(exc, SignInRequired) and request.method == "GET":
            login = f"{PREFIX}/login?next={quote(request.url.path, safe='/')}"
            if request.headers.get("HX-Request"):
                # A live refresh after the session ended: the whole page goes to sign-in,
                # not the sign-in form into a table body.
                return secure(Response(status_code=204, headers={"HX-Redirect": login}))
            return redirect(login)
        signed = None
        if not isinstance(exc, Unauthenticated):
            cookie = request.cookies.get(COOKIE)
            if cookie:
                with request.app.state.sessionmaker() as session:
                    signed = resolve(session=session, cookie=cookie)
        response = render(
            request,
            "error.html",
            {"title": exc.title, "detail": exc.detail, "errors": exc.errors or []},
            signed=signed,
            status=exc.status,
        )
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    app.add_exception_handler(ServiceError, handler)
