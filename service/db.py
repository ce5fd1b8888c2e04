"""Engine and session plumbing shared by every domain.

SQLite gets real transactions (pysqlite's legacy implicit BEGIN is switched off, we emit
BEGIN ourselves) so that a write transaction holds its lock from its first statement.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, MetaData, Table, create_engine, event, insert, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


WRITE_OPTION = "custody_write"


def begin_write(session: Session) -> None:
    """Start the session's transaction as a writer (SQLite: BEGIN IMMEDIATE, which waits
    for the write lock up front). Call before the first statement; a no-op elsewhere."""
    if not session.in_transaction():
        session.connection(execution_options={WRITE_OPTION: True})


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def insert_rows(
    session: Session, model: type[Base], rows: Sequence[dict[str, Any]], *, returning: Any = None
) -> list[Any]:
    """One multi-row INSERT of `rows` (keyed by ORM attribute name) through Core.

    The ORM's bulk insert does per-row bookkeeping that costs more than the statement
    itself on the rules runner's hot path. All rows must have the same keys. With
    `returning` (a column), its values come back in the order of `rows`."""
    if not rows:
        return []
    renames = {
        prop.key: prop.columns[0].key
        for prop in inspect(model).column_attrs
        if prop.key != prop.columns[0].key
    }
    if renames:
        rows = [{renames.get(k, k): v for k, v in row.items()} for row in rows]
    table = model.__table__
    assert isinstance(table, Table)
    connection = session.connection()  # not session.execute: that takes the ORM path again
    if returning is None:
        connection.execute(insert(table), rows)
        return []
    column = table.c[returning.key]
    stmt = insert(table).returning(column, sort_by_parameter_order=True)
    return list(connection.execute(stmt, rows).scalars())


def json_dumps(value: Any) -> str:
    """JSON columns: orjson (several times faster on rendered runbooks and snapshots),
    falling back to the standard library for what orjson refuses (integers over 64
    bits)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)


def make_engine(url: str, **kwargs: Any) -> Engine:
    kwargs.setdefault("json_serializer", json_dumps)
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:":
            # The default lives in CUSTODY_HOME, which may not exist yet on first use.
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        _sqlite_pragmas(engine)
        return engine
    if "poolclass" not in kwargs:
        for key, value in {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20}.items():
            kwargs.setdefault(key, value)
        # No server-side prepared statements: after five runs psycopg would prepare the
        # idempotency lookup, and PostgreSQL's generic plan for it scanned the whole source
        # (ingest fell from ~7k to ~1k events/s as the table grew).
        kwargs.setdefault("connect_args", {"prepare_threshold": None})
    return create_engine(url, **kwargs)


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed (acknowledged) transaction survives power loss, not only a crash.
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A deferred transaction that reads, then writes, fails with "database is locked"
        # when another writer committed in between; writers start IMMEDIATE instead.
        mode = "IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION) else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


@contextmanager
def database(url: str) -> Iterator[sessionmaker[Session]]:
    """A session factory for one CLI command or worker run; the pool is closed after."""
    engine = make_engine(url)
    try:
        yield make_sessionmaker(engine)
    finally:
        engine.dispose()


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work for workers and CLI commands: commit on success, roll back on error."""
    session = factory()
    begin_write(session)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
