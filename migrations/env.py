"""Alembic environment: the URL comes from the caller (custody db upgrade) or settings."""

from __future__ import annotations

import re
from typing import Any

from alembic import context
from sqlalchemy import pool

from service.config import Settings
from service.db import make_engine
from service.models import metadata

config = context.config


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or Settings().database_url


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


# On PostgreSQL the log is partitioned by seq (migration 0025): its partitions are tables
# of their own, a unique constraint must include seq (so (source, event_id) is unique in
# log_event_ids instead) and nothing may hold a foreign key into a partition that
# archival drops. The models describe the SQLite shape; these differences are expected.
_PG_ONLY_DIFFERENCES = {"uq_log_records_source"}
_PARTITION = re.compile(r"log_(records|payloads)_s[0-9]{12}$")


def _include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    if context.get_context().dialect.name != "postgresql":
        return True
    if type_ == "table" and name and _PARTITION.match(name):
        return False
    if type_ == "unique_constraint" and name in _PG_ONLY_DIFFERENCES:
        return False
    return not (type_ == "foreign_key_constraint" and obj.referred_table.name == "log_records")


def _run(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # type: ignore[attr-defined]
        compare_type=True,
        include_object=_include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
