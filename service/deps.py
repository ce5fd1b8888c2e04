"""Request-scoped dependencies shared by the domains' routes."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from sqlalchemy.orm import Session

from service.config import Settings
from service.db import begin_write


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """One session per request. Routes commit explicitly before returning: code after
    `yield` runs after the response has been sent, too late to report a failed commit."""
    session: Session = request.app.state.sessionmaker()
    if request.method not in {"GET", "HEAD", "OPTIONS"}:
        begin_write(session)
    try:
        yield session
    finally:
        session.rollback()
        session.close()


def get_deferred_session(request: Request) -> Iterator[Session]:
    """A session whose write transaction the route starts itself (`begin_write`) once its
    CPU-bound work is done: on SQLite that transaction holds the database's only write
    lock, which parsing and hashing a large batch need not hold."""
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
    finally:
        session.rollback()
        session.close()
