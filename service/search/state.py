"""The indexer's cursor rows. Functions join the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service.search.models import SearchIndexState


@dataclass(frozen=True, slots=True)
class IndexState:
    cursor: int
    index_uuid: str | None


def read_state(*, session: Session, index_name: str) -> IndexState:
    row = session.execute(
        select(SearchIndexState.cursor, SearchIndexState.index_uuid).where(
            SearchIndexState.index_name == index_name
        )
    ).first()
    return IndexState(0, None) if row is None else IndexState(int(row.cursor), row.index_uuid)


def restart(*, session: Session, index_name: str, index_uuid: str) -> None:
    """Point the cursor at the start of the log for a new (or first seen) index."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(SearchIndexState).values(index_name=index_name, cursor=0, index_uuid=index_uuid)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["index_name"], set_={"cursor": 0, "index_uuid": index_uuid}
        )
    )


def advance(*, session: Session, index_name: str, index_uuid: str, old: int, new: int) -> bool:
    """Move the cursor from `old` to `new` unless another indexer moved it or the index
    changed meanwhile (then this batch was merely indexed twice, which is harmless)."""
    result = session.execute(
        update(SearchIndexState)
        .where(
            SearchIndexState.index_name == index_name,
            SearchIndexState.cursor == old,
            SearchIndexState.index_uuid == index_uuid,
        )
        .values(cursor=new)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def follow(*, session: Session, index_name: str, old: str | None, new: str) -> None:
    """Track the new write index after a rollover, keeping the cursor."""
    session.execute(
        update(SearchIndexState)
        .where(SearchIndexState.index_name == index_name, SearchIndexState.index_uuid == old)
        .values(index_uuid=new)
    )
