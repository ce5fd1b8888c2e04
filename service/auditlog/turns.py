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
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from service.config import Settings
from service.db import begin_write


class Turn:
    """One body's passage; `IngestTurns.take` makes it and gives back what it holds."""

    def __init__(self, turns: IngestTurns) -> None:
        self._turns = turns
        self._body = False
        self._session: Session | None = None

    def write(self, session: Session) -> None:
        """Wait for the write turn, then start `session`'s write transaction."""
        if self._turns.writer is not None and self._session is None:
            self._turns.writer.acquire()
            self._session = session
        begin_write(session)

    def commit(self, session: Session) -> None:
        """Commit `session`, letting the next body start meanwhile."""
        self._give_body_back()
        session.commit()

    def _take_body(self) -> None:
        if self._turns.bodies is not None:
            self._turns.bodies.acquire()
            self._body = True

    def _give_body_back(self) -> None:
        if self._body:
            assert self._turns.bodies is not None
            self._body = False
            self._turns.bodies.release()

    def _finish(self, failed: bool) -> None:
        self._give_body_back()
        if self._session is not None:
            assert self._turns.writer is not None
            try:
                if failed:
                    # Before the next writer goes: it would wait on SQLite's lock otherwise.
                    self._session.rollback()
            finally:
                self._session = None
                self._turns.writer.release()


class IngestTurns:
    def __init__(self, *, bodies: int | None, serial_writes: bool) -> None:
        self.bodies = threading.BoundedSemaphore(bodies) if bodies else None
        self.writer = threading.Lock() if serial_writes else None

    @contextmanager
    def take(self) -> Iterator[Turn]:
        """Hold a body turn for the block; see `Turn.write` and `Turn.commit`."""
        turn = Turn(self)
        turn._take_body()
        failed = True
        try:
            yield turn
            failed = False
        finally:
            turn._finish(failed)


def ingest_turns(settings: Settings, engine: Engine) -> IngestTurns:
    sqlite = engine.dialect.name == "sqlite"
    bodies = settings.ingest_concurrency
    if bodies is None and sqlite:
        bodies = 1
    return IngestTurns(bodies=bodies, serial_writes=sqlite)
