"""The rows of one SELECT in batches of plain tuples, straight from the driver.

Verification and replay read every row of their range once, and SQLAlchemy's Row
objects plus psycopg's server-side cursor (one ``FETCH`` round trip per batch, the
server idle while Python checks the batch) cost about as much as the checks themselves.
On PostgreSQL the rows are streamed instead (libpq chunked-rows mode, libpq >= 17;
single-row mode before), so the server sends the next rows while this process checks
the last ones. A streaming connection can run nothing else until the result is
consumed, so the stream gets a pooled connection of its own and the caller's session
stays free for the lookups a batch needs; it therefore reads committed rows only
(callers commit first). SQLite is read with a plain cursor on the session's connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

#: Rows per chunk the server sends while streaming (only the libpq buffer size).
STREAM_CHUNK = 2000


@contextmanager
def row_batches(
    session: Session, stmt: Select[Any], batch: int
) -> Iterator[tuple[list[str], Iterator[list[tuple[Any, ...]]]]]:
    """(column names, iterator of row lists of at most ``batch`` rows). Values are what
    the driver returns: the log's columns are plain strings and integers on both
    databases, so no SQLAlchemy result processing is skipped."""
    engine = session.connection().engine
    compiled = stmt.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
    params: Any = compiled.params
    if compiled.positiontup is not None:  # SQLite: qmark, positional
        params = tuple(params[name] for name in compiled.positiontup)
    if engine.dialect.name != "postgresql":
        cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(compiled.string, params)
            keys = [d[0] for d in cursor.description]
            yield keys, iter(lambda: cursor.fetchmany(batch), [])
        finally:
            cursor.close()
        return
    raw = engine.raw_connection()
    try:
        import psycopg  # only with the PostgreSQL driver installed

        conn = raw.driver_connection
        chunk = STREAM_CHUNK if psycopg.pq.version() >= 170000 else 1
        cursor = conn.cursor()  # type: ignore[union-attr]
        rows = cursor.stream(compiled.string, params, size=chunk)
        try:
            first = list(islice(rows, batch))  # executes; description is known after
            # ...unless no row came back: then the statement names the columns.
            keys = (
                [d.name for d in cursor.description]
                if cursor.description
                else list(stmt.selected_columns.keys())
            )
            yield keys, _chunks(first, rows, batch)
        finally:
            rows.close()  # cancels the query if the reader stopped early
            cursor.close()
    finally:
        raw.close()  # back to the pool, rolled back


def _chunks(
    first: list[tuple[Any, ...]], rows: Iterator[tuple[Any, ...]], batch: int
) -> Iterator[list[tuple[Any, ...]]]:
    chunk = first
    while chunk:
        yield chunk
        chunk = list(islice(rows, batch))
