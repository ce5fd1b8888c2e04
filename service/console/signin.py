"""Routes: the sign-in form, sign-in and sign-out."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from service.auth.deps import public
from service.auth.schemas import Scope
from service.auth.service import AuthFailure
from service.console import sessions
from service.console.web import (
    COOKIE,
    LOGIN_CSRF_COOKIE,
    PREFIX,
    Posted,
    check_csrf,
    client_ip,
    form,
    read_form,
    redirect,
    render,
)
from service.db import begin_write

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Anyone = Annotated[None, Depends(public())]


def _next(value: str | None) -> str:
    # Only a console path: an open redirect would let a link send a signed-in user away.
    if value and value.startswith(PREFIX + "/") and not value.startswith("//"):
        return value
    return PREFIX + "/"


def _login_page(request: Request, *, error: str | None, status: int, nxt: str) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        {"error": error, "login_csrf": token, "next": nxt},
        signed=None,
        status=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=600,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/login")
def login_form(_: Anyone, request: Request, next: str | None = None) -> Response:
    return _login_page(request, error=None, status=200, nxt=_next(next))


@router.post("/login")
async def login(_: Anyone, request: Request) -> Response:
    fields = await read_form(request)
    check_csrf(request.cookies.get(LOGIN_CSRF_COOKIE, ""), fields)
    nxt = _next(fields.get("next"))
    secret = fields.get("token", "").strip()
    if not secret:
        return _login_page(request, error="token: paste an API token", status=422, nxt=nxt)
    state = request.app.state
    lifetime = timedelta(minutes=state.settings.console_session_minutes)
    ip = client_ip(request)
    throttle = state.auth_throttle
    if throttle.blocked_for(ip or "unknown"):
        # The same per-address budget as the API: no more guesses until it refills;
        # the refused attempts are counted and logged in aggregate.
        throttle.refused(ip or "unknown", request.url.path)
        return _login_page(
            request, error="token: too many failed sign-ins from this address", status=429,
            nxt=nxt,
        )  # fmt: skip
    with state.sessionmaker() as session:
        begin_write(session)
        try:
            cookie, _signed = sessions.sign_in(
                session=session, secret=secret, ip=ip, lifetime=lifetime
            )
        except AuthFailure as exc:
            # Every evaluated failure is logged; the throttle bounds how many there are.
            throttle.failed(ip or "unknown")
            session.commit()
            return _login_page(request, error=f"token: {exc.detail}", status=401, nxt=nxt)
        session.commit()
    response = redirect(nxt)
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(lifetime.total_seconds()),
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=PREFIX)
    return response


@router.post("/logout")
def logout(posted: Annotated[Posted, Depends(form(Scope.read))], request: Request) -> Response:
    with request.app.state.sessionmaker() as session:
        begin_write(session)
        sessions.sign_out(session=session, signed=posted.signed, ip=client_ip(request))
        session.commit()
    response = redirect(PREFIX + "/login")
    response.delete_cookie(COOKIE, path=PREFIX)
    return response
