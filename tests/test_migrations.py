"""The schema comes from the migrations, and the models agree with them (alembic check)."""

from __future__ import annotations

from sqlalchemy import inspect

from service import migrate
from service.db import make_engine


def test_models_and_migrations_agree(db_url: str) -> None:
    migrate.check(db_url)  # raises if autogenerate would produce any operation


def test_migrations_reach_every_head(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert migrate.is_up_to_date(engine)
        assert {"log_records", "log_payloads", "log_head", "api_tokens"} <= set(
            inspect(engine).get_table_names()
        )
    finally:
        engine.dispose()
