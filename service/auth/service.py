"""Creating, listing, revoking and checking tokens. Secrets are never stored or logged."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auditlog.chain import record_internal
from service.auditlog.schemas import Outcome
from service.auth.errors import TokenNotFound, Unauthenticated
from service.auth.models import ApiToken
from service.auth.schemas import Principal, Scope, TokenCreated, TokenOut

TOKEN_PREFIX = "cst_"  # noqa: S105 - a label, not a secret
_DURATION = re.compile(r"^(\d+)([dhm])$")


def parse_duration(text: str) -> timedelta:
    """'90d', '12h', '30m' -> timedelta."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"invalid duration {text!r}; use e.g. 90d, 12h or 30m")
    amount, unit = int(match[1]), match[2]
    return {
        "d": timedelta(days=amount),
        "h": timedelta(hours=amount),
        "m": timedelta(minutes=amount),
    }[unit]


def _hash(secret: str) -> str:
    # The secret has 256 bits of entropy, so a plain SHA-256 cannot be brute-forced.
    return hashlib.sha256(secret.encode()).hexdigest()


def _out(token: ApiToken) -> TokenOut:
    out = TokenOut.model_validate(token, from_attributes=True)
    # Always with an offset (SQLite hands back naive UTC), as the schema's date-time says.
    return out.model_copy(
        update={
            "created_at": _aware(out.created_at),
            "expires_at": out.expires_at and _aware(out.expires_at),
            "revoked_at": out.revoked_at and _aware(out.revoked_at),
        }
    )


def create_token(
    *,
    session: Session,
    scope: Scope,
    name: str = "",
    source: str | None = None,
    expires_in: timedelta | None = None,
    created_by: dict[str, str] | None = None,
) -> TokenCreated:
    if source is not None and scope != Scope.ingest:
        raise ValueError("only ingest tokens can be bound to a source")
    prefix = TOKEN_PREFIX + secrets.token_hex(4)
    secret = prefix + "_" + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    token = ApiToken(
        id="tok_" + secrets.token_hex(8),
        name=name or f"{scope.value} token",
        scope=scope.value,
        source=source,
        prefix=prefix,
        secret_hash=_hash(secret),
        created_at=now,
        expires_at=now + expires_in if expires_in else None,
        revoked_at=None,
    )
    session.add(token)
    record_internal(
        session=session,
        action="apikey.create",
        actor=created_by or {"type": "cli", "id": "custody token create"},
        resource={"type": "apikey", "id": token.id},
        attributes={"scope": scope.value, "source": source, "name": token.name, "prefix": prefix},
    )
    return TokenCreated(**_out(token).model_dump(), secret=secret)


def list_tokens(*, session: Session) -> list[TokenOut]:
    rows = session.execute(select(ApiToken).order_by(ApiToken.created_at)).scalars()
    return [_out(t) for t in rows]


def revoke_token(
    *, session: Session, token_id: str, revoked_by: dict[str, str] | None = None
) -> TokenOut:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise TokenNotFound(f"No token {token_id}")
    if token.revoked_at is None:
        token.revoked_at = datetime.now(UTC)
        record_internal(
            session=session,
            action="apikey.delete",
            actor=revoked_by or {"type": "cli", "id": "custody token revoke"},
            resource={"type": "apikey", "id": token.id},
            attributes={"scope": token.scope, "prefix": token.prefix},
        )
    return _out(token)


def _aware(value: datetime) -> datetime:
    # SQLite returns naive datetimes for timezone-aware columns; they were stored in UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class AuthFailure(Unauthenticated):
    """Carries what to log (never the secret) alongside the client-facing detail."""

    def __init__(self, detail: str, *, reason: str, token_id: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.token_id = token_id


def authenticate(*, session: Session, secret: str) -> Principal:
    """Find the token for a presented secret or raise AuthFailure.

    Only a caller who presented the right secret learns that it is expired or revoked;
    anyone else gets the same answer whether or not the prefix exists.
    """
    parts = secret.split("_", 2)
    prefix = f"{parts[0]}_{parts[1]}" if len(parts) == 3 else ""
    token = session.execute(select(ApiToken).where(ApiToken.prefix == prefix)).scalar_one_or_none()
    if token is None or not hmac.compare_digest(token.secret_hash, _hash(secret)):
        raise AuthFailure("The token is not valid", reason="unknown or wrong secret")
    if token.revoked_at is not None:
        raise AuthFailure("The token was revoked", reason="revoked", token_id=token.id)
    if token.expires_at is not None and _aware(token.expires_at) <= datetime.now(UTC):
        raise AuthFailure("The token has expired", reason="expired", token_id=token.id)
    return Principal(
        token_id=token.id, name=token.name, scope=Scope(token.scope), source=token.source
    )


def record_failure(
    *, session: Session, reason: str, token_id: str | None, ip: str | None, route: str
) -> None:
    actor: dict[str, str] = {"type": "token", "id": token_id} if token_id else {"type": "anonymous"}
    if ip:
        actor["ip"] = ip
    record_internal(
        session=session,
        action="auth.login.failure",
        outcome=Outcome.denied,
        actor=actor,
        attributes={"reason": reason, "route": route},
    )
