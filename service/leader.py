"""One leader for the background loops across processes (replicas, several workers).

The rules engine and the checkpointer must run once. On PostgreSQL the leader is the
process holding a session advisory lock on a dedicated connection: when it dies (even
kill -9) its connection closes, PostgreSQL releases the lock, and a standby that retries
every `retry_every` seconds takes over. A leader whose lock connection breaks stops at
once. SQLite has one process per database file: it always leads.
"""

from __future__ import annotations

import os
import time

from sqlalchemy import Connection, Engine, exc

from service.logging import get_logger

log = get_logger(__name__)

# pg_advisory_lock key: "custody" in ASCII, arbitrary but fixed.
LOCK_KEY = 0x637573746F6479


class Leadership:
    def __init__(self, engine: Engine, *, retry_every: float = 1.0, check_every: float = 1.0):
        self.engine = engine
        self.retry_every = retry_every
        self.check_every = check_every
        self._conn: Connection | None = None
        self._checked = 0.0
        self._tried = 0.0

    @property
    def shared(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def holds(self) -> bool:
        """Whether this process leads now (tries to become leader at most every
        `retry_every` seconds, checks a held lock at most every `check_every`)."""
        if not self.shared:
            return True
        now = time.monotonic()
        if self._conn is not None:
            if now - self._checked < self.check_every:
                return True
            self._checked = now
            try:
                self._conn.exec_driver_sql("SELECT 1")
                return True
            except exc.SQLAlchemyError as error:
                log.warning("worker.leadership_lost", error=str(error)[:200])
                self._drop()
                return False
        if now - self._tried < self.retry_every:
            return False
        self._tried = now
        return self._try()

    def _try(self) -> bool:
        try:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except exc.SQLAlchemyError:
            return False
        try:
            got = conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({LOCK_KEY})").scalar_one()
        except exc.SQLAlchemyError:
            conn.close()
            return False
        if not got:
            conn.close()
            return False
        self._conn, self._checked = conn, time.monotonic()
        log.info("worker.leader", pid=os.getpid())
        return True

    def _drop(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.invalidate()  # never hand a connection holding the lock back to the pool
            finally:
                conn.close()

    def release(self) -> None:
        if self._conn is not None:
            log.info("worker.leader_released", pid=os.getpid())
        self._drop()
