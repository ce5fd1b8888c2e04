"""Token shapes for the API and the CLI."""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class Scope(enum.StrEnum):
    ingest = "ingest"
    read = "read"
    respond = "respond"
    admin = "admin"


# What each scope may do: admin does everything, respond includes read.
GRANTS: dict[Scope, frozenset[Scope]] = {
    Scope.ingest: frozenset({Scope.ingest}),
    Scope.read: frozenset({Scope.read}),
    Scope.respond: frozenset({Scope.read, Scope.respond}),
    Scope.admin: frozenset(Scope),
}


class TokenOut(BaseModel):
    id: str
    name: str
    scope: Scope
    source: str | None
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    secret: str = Field(description="Shown once; store it now.")


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=200)
    scope: Scope
    source: str | None = Field(default=None, max_length=128)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class TokenPage(BaseModel):
    items: list[TokenOut]
    next_cursor: str | None = None


class Principal(BaseModel):
    """Who is calling: the token's id, name, scope and bound source."""

    token_id: str
    name: str
    scope: Scope
    source: str | None = None

    def actor(self) -> dict[str, str]:
        return {"type": "token", "id": self.token_id}
