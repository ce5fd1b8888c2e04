"""Sign-in, session cookie, sign-out, revocation, CSRF and security headers."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from service.auditlog.models import LogRecord
from service.auth.schemas import Scope
from service.auth.service import revoke_token
from service.db import session_scope
from tests.console.conftest import Browser, csrf_of


def _actions(sessions: Any, prefix: str) -> list[tuple[str, str]]:
    with sessions() as s:
        rows = s.execute(
            select(LogRecord.action, LogRecord.outcome)
            .where(LogRecord.action.like(prefix + "%"))
            .order_by(LogRecord.seq)
        ).all()
    return [(a, o) for a, o in rows]


def test_sign_in_sets_a_strict_httponly_cookie_and_logs_it(
    app: Any, make_token: Any, sessions: Any
) -> None:
    with TestClient(app) as c:
        assert (
            c.get("/console/", follow_redirects=False)
            .headers["location"]
            .startswith("/console/login")
        )
        b = Browser(c)
        r = b.sign_in(make_token(Scope.read))
        assert r.status_code == 303
        cookie = r.headers["set-cookie"]
        assert "custody_console=" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert "Max-Age=7200" in cookie
        assert "Secure" not in cookie  # plain http here; https sets it
        page = c.get("/console/")
        assert page.status_code == 200
        assert "Queue" in page.text
        csp = page.headers["content-security-policy"]
        assert "unsafe-inline" not in csp
        assert "script-src 'self'" in csp
        assert "<script>" not in page.text
        assert " style=" not in page.text
        r = c.post("/console/logout", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
        assert r.status_code == 303
        assert c.get("/console/", follow_redirects=False).status_code == 303
        # The queue's live refresh sends the whole page to the sign-in form.
        r = c.get("/console/queue/rows", headers={"HX-Request": "true"})
        assert r.status_code == 204
        assert r.headers["hx-redirect"] == "/console/login?next=/console/queue/rows"
    assert _actions(sessions, "console.") == [
        ("console.signin", "success"),
        ("console.signout", "success"),
    ]


def test_secure_cookie_over_https(app: Any, make_token: Any) -> None:
    with TestClient(app, base_url="https://custody.example") as c:
        r = Browser(c).sign_in(make_token(Scope.read))
        assert r.status_code == 303
        assert "Secure" in r.headers["set-cookie"]


def test_bad_and_ingest_tokens_are_refused_and_logged(
    app: Any, make_token: Any, sessions: Any
) -> None:
    with TestClient(app) as c:
        b = Browser(c)
        r = b.sign_in("cst_00000000_nope")
        assert r.status_code == 401
        assert "token: The token is not valid" in r.text
        r = b.sign_in(make_token(Scope.ingest))
        assert r.status_code == 401
        assert "ingest token cannot sign in" in r.text
        assert "custody_console=" not in r.headers.get("set-cookie", "")
    assert _actions(sessions, "console.") == [
        ("console.signin", "denied"),
        ("console.signin", "denied"),
    ]


def test_revoking_the_token_ends_the_session(app: Any, make_token: Any, sessions: Any) -> None:
    token = make_token(Scope.respond)
    with TestClient(app) as c:
        assert Browser(c).sign_in(token).status_code == 303
        assert c.get("/console/").status_code == 200
        with session_scope(sessions) as s:
            from service.auth.service import authenticate

            revoke_token(session=s, token_id=authenticate(session=s, secret=token).token_id)
        assert c.get("/console/", follow_redirects=False).status_code == 303


def test_login_form_needs_its_csrf_token(app: Any, make_token: Any) -> None:
    with TestClient(app) as c:
        c.get("/console/login")
        r = c.post("/console/login", data={"csrf": "forged", "token": make_token(Scope.admin)})
        assert r.status_code == 403
        assert "CSRF" in r.text
        assert c.get("/console/", follow_redirects=False).status_code == 303


def test_sign_out_without_csrf_is_refused(browser_for: Any) -> None:
    b = browser_for(Scope.read)
    r = b.client.post("/console/logout", data={"csrf": "x"})
    assert r.status_code == 403
    assert b.get("/console/").status_code == 200  # still signed in


def test_next_is_a_console_path_only(app: Any, make_token: Any) -> None:
    with TestClient(app) as c:
        form = c.get("/console/login?next=//evil.example/x")
        assert 'name="next" value="/console/"' in form.text
        r = c.post(
            "/console/login",
            data={
                "csrf": csrf_of(form.text),
                "token": make_token(Scope.read),
                "next": "https://evil.example/",
            },
            follow_redirects=False,
        )
        assert r.headers["location"] == "/console/"


def test_an_expired_session_is_refused(app: Any, make_token: Any, sessions: Any) -> None:
    from datetime import UTC, datetime, timedelta

    from service.console.models import ConsoleSession

    with TestClient(app) as c:
        assert Browser(c).sign_in(make_token(Scope.read)).status_code == 303
        assert c.get("/console/").status_code == 200
        with session_scope(sessions) as s:
            for row in s.scalars(select(ConsoleSession)):
                row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        r = c.get("/console/", follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"] == "/console/login?next=/console/"
