"""How the ingest bodies of one server process share its CPU and the database's writer.

A body goes through two turns: the *body turn* (parse, validate, canonicalize, chain and
insert: Python work that holds the GIL) and, on SQLite, the *write turn* (from BEGIN
IMMEDIATE to COMMIT). A body gives its body turn back once its rows are inserted, so the
next body is parsed while this one's commit waits on the disk: the commit is one long call
that releases the GIL, and on SQLite (`synchronous=FULL`) it is about a third of a body's
time. The next body then waits for the write turn, which is free as soon as that commit
returns: no polling on SQLite's busy handler.

Only one body at a time holds the body turn on SQLite by default: two threads inserting
and parsing at once convoy on the GIL (the inserter waits up to a switch interval for it
after every row). On PostgreSQL, where COPY and commit run in the server's processes,
there is no limit and no write turn (the chain-head row lock orders appenders).
`CUSTODY_INGEST_CONCURRENCY` sets the number of body turns; `bench/ingest.py
--concurrency N` measures it.
"""

from __future__ import annotations

import threading
from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from service.config import Settings
from service.db import begin_write


class Turn:
    """One body's passage, a context manager (`IngestTurns.take`): entering waits for a
    body turn, leaving gives back whatever is still held."""

    def __init__(
        self, bodies: threading.BoundedSemaphore | None, writer: threading.Lock | None
    ) -> None:
        self._bodies = bodies
        self._writer = writer
        self._session: Session | None = None  # set while this body holds the write turn

    def __enter__(self) -> Turn:
        if self._bodies is not None:
            self._bodies.acquire()
        return self

    def write(self, session: Session) -> None:
        """Wait for the write turn, then start `session`'s write transaction."""
        if self._writer is not None and self._session is None:
            self._writer.acquire()
            self._session = session
        begin_write(session)

    def commit(self, session: Session) -> None:
        """Commit `session`, letting the next body start meanwhile."""
        self._give_body_back()
        session.commit()

    def _give_body_back(self) -> None:
        if self._bodies is not None:
            self._bodies.release()
            self._bodies = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._give_body_back()
        if self._session is None:
            return
        assert self._writer is not None
        try:
            if exc_type is not None:
                # Before the next writer goes: it would wait on SQLite's lock otherwise.
                self._session.rollback()
        finally:
            self._session = None
            self._writer.release()


class IngestTurns:
    def __init__(self, *, bodies: int | None, serial_writes: bool) -> None:
        self._bodies = threading.BoundedSemaphore(bodies) if bodies else None
        self._writer = threading.Lock() if serial_writes else None

    def take(self) -> Turn:
        """A body's turns, for a `with` block; see `Turn.write` and `Turn.commit`."""
        return Turn(self._bodies, self._writer)


def ingest_turns(settings: Settings, engine: Engine) -> IngestTurns:
    sqlite = engine.dialect.name == "sqlite"
    bodies = settings.ingest_concurrency
    if bodies is None and sqlite:
        bodies = 1
    return IngestTurns(bodies=bodies, serial_writes=sqlite)
