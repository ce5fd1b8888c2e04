"""When the database cannot take writes: a 503 with Retry-After, and a /readyz that says so.

An outage (disk full, read-only database, connection refused or lost, pool exhausted,
lock timeout) is not a bug in the request: the client should come back later, and a
load balancer should route elsewhere meanwhile. Errors are classified by SQLSTATE on
PostgreSQL and by SQLite's result text; anything else stays a 500.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Engine, exc, text

from service.db import WRITE_OPTION

# SQLSTATE classes and codes that mean "not now" rather than "never": connection
# exceptions (08), insufficient resources (53: disk full, out of memory, too many
# connections), operator intervention (57P: shutdown, cannot connect now), read-only
# transaction, lock not available, statement/lock timeout, serialization and deadlock.
PG_CLASSES = ("08", "53", "57P")
PG_CODES = frozenset({"25006", "55P03", "57014", "40001", "40P01"})
# Room a SQLite write probe asks for (allocated in the page cache, rolled back): about
# one large ingest batch.
PROBE_BYTES = 256 * 1024
SQLITE_TEXTS = (
    "database or disk is full",
    "disk i/o error",
    "readonly database",
    "database is locked",
    "database table is locked",
    "unable to open database",
)


def unavailable_reason(error: BaseException) -> str | None:
    """Why the database could not do it, if that is an outage; None for anything else.
    Takes SQLAlchemy's wrapped errors and the drivers' own (bulk inserts use the driver)."""
    if isinstance(error, exc.TimeoutError):
        return "no database connection free (pool exhausted)"
    if isinstance(error, exc.DBAPIError):
        if error.orig is None:
            return None
        orig: BaseException = error.orig
        if error.connection_invalidated:
            return f"database connection lost: {_first_line(orig)}"
    elif isinstance(error, sqlite3.Error | psycopg.Error):
        orig = error
    else:
        return None
    message = _first_line(orig)
    state = getattr(orig, "sqlstate", None)
    if isinstance(state, str):
        if state.startswith(PG_CLASSES) or state in PG_CODES:
            return f"database unavailable ({state}): {message}"
        return None
    if isinstance(orig, sqlite3.Error):
        if any(t in message.lower() for t in SQLITE_TEXTS):
            return f"database unavailable: {message}"
        return None
    # psycopg without a SQLSTATE: the connection could not be made, or broke.
    if isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError):
        return f"database unreachable: {message}"
    return None


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else type(error).__name__


@dataclass
class WriteHealth:
    """The last write that failed for an outage; /readyz stays not-ready for `hold`
    seconds after it, so a load balancer stops sending writes that cannot succeed."""

    hold: float
    _failed_at: float = 0.0
    _reason: str = ""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def failed(self, reason: str) -> None:
        with self._lock:
            self._failed_at, self._reason = time.monotonic(), reason

    def recent_failure(self) -> str | None:
        with self._lock:
            if self._failed_at and time.monotonic() - self._failed_at < self.hold:
                return self._reason
            return None


def probe(engine: Engine, min_free_bytes: int) -> str | None:
    """Can the database take a write now? None if so, else why not. SQLite: free disk
    space next to the file, then a write that allocates pages, rolled back. PostgreSQL:
    a connection that is not read-only (the server owns its disk)."""
    if engine.dialect.name == "sqlite":
        path = engine.url.database
        if path and path != ":memory:":
            stat = os.statvfs(os.path.dirname(os.path.abspath(path)))
            free = stat.f_bavail * stat.f_frsize
            if free < min_free_bytes:
                return f"disk nearly full: {free} bytes free next to {path}"
        with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn:
            raw: Any = conn.connection.driver_connection
            # Readiness answers quickly: a writer holding the lock longer is an outage too.
            raw.execute("PRAGMA busy_timeout=2000")
            try:
                with conn.begin() as transaction:  # BEGIN IMMEDIATE: takes the write lock
                    conn.exec_driver_sql("CREATE TABLE custody_write_probe (b BLOB)")
                    conn.exec_driver_sql(
                        "INSERT INTO custody_write_probe VALUES (zeroblob(?))", (PROBE_BYTES,)
                    )
                    transaction.rollback()
            finally:
                raw.execute("PRAGMA busy_timeout=30000")
        return None
    with engine.connect() as conn:
        read_only = conn.execute(
            text("SELECT current_setting('transaction_read_only') = 'on' OR pg_is_in_recovery()")
        ).scalar_one()
    return "database is read-only" if read_only else None
