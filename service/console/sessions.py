"""Sign-in and sign-out: an API token exchanged for a server-side console session.

The cookie holds a random secret; the database holds only its SHA-256. Every request
re-reads the session joined with its token, so revoking or expiring the token ends the
session at once, with no cache to wait out.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auditlog.chain import record_internal
from service.auditlog.schemas import Outcome
from service.auth.models import ApiToken
from service.auth.schemas import Principal, Scope
from service.auth.service import AuthFailure, authenticate
from service.console.models import ConsoleSession


@dataclass(frozen=True)
class Signed:
    """A live console session: who, and the CSRF token its forms must carry."""

    principal: Principal
    session_id: str
    csrf: str
    expires_at: datetime


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def sign_in(
    *, session: Session, secret: str, ip: str | None, lifetime: timedelta
) -> tuple[str, Signed]:
    """Check the token, store a session, log `console.signin`; returns (cookie, session).

    Raises AuthFailure (after logging a denied `console.signin`) for a bad token, and
    refuses ingest tokens: they cannot read anything the console shows."""
    try:
        principal = authenticate(session=session, secret=secret)
    except AuthFailure as exc:
        _signin_record(session, exc.token_id, ip, exc.reason)
        raise
    if principal.scope is Scope.ingest:
        _signin_record(session, principal.token_id, ip, "ingest token")
        raise AuthFailure(
            "An ingest token cannot sign in to the console; use a read, respond or admin token",
            reason="ingest token",
            token_id=principal.token_id,
        )
    cookie = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    row = ConsoleSession(
        id=_hash(cookie),
        token_id=principal.token_id,
        csrf=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + lifetime,
        ended_at=None,
    )
    session.add(row)
    _signin_record(session, principal.token_id, ip)
    return cookie, Signed(principal, row.id, row.csrf, row.expires_at)


def resolve(*, session: Session, cookie: str) -> Signed | None:
    """The live session behind a cookie, or None (unknown, ended, expired, token gone)."""
    found = session.execute(
        select(ConsoleSession, ApiToken)
        .join(ApiToken, ApiToken.id == ConsoleSession.token_id)
        .where(ConsoleSession.id == _hash(cookie))
    ).first()
    if found is None:
        return None
    row, token = found
    now = datetime.now(UTC)
    expires = token.expires_at
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    if (
        row.ended_at is not None
        or row.expires_at <= now
        or token.revoked_at is not None
        or (expires is not None and expires <= now)
    ):
        return None
    principal = Principal(
        token_id=token.id, name=token.name, scope=Scope(token.scope), source=token.source
    )
    return Signed(principal, row.id, row.csrf, row.expires_at)


def sign_out(*, session: Session, signed: Signed, ip: str | None) -> None:
    row = session.get(ConsoleSession, signed.session_id)
    if row is None or row.ended_at is not None:
        return
    row.ended_at = datetime.now(UTC)
    record_internal(
        session=session,
        action="console.signout",
        actor=_actor(signed.principal.token_id, ip),
        resource={"type": "console", "id": "session"},
    )


def _signin_record(
    session: Session, token_id: str | None, ip: str | None, reason: str | None = None
) -> None:
    record_internal(
        session=session,
        action="console.signin",
        outcome=Outcome.denied if reason else Outcome.success,
        actor=_actor(token_id, ip),
        resource={"type": "console", "id": "session"},
        attributes={"reason": reason} if reason else None,
    )


def _actor(token_id: str | None, ip: str | None) -> dict[str, str]:
    actor: dict[str, str] = {"type": "token", "id": token_id} if token_id else {"type": "anonymous"}
    if ip:
        actor["ip"] = ip
    return actor
