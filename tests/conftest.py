"""Shared fixtures: a freshly migrated database per test, on SQLite and on PostgreSQL.

Each test gets its own database copied from a template that the migrations built once
per session (a file copy on SQLite, CREATE DATABASE ... TEMPLATE on PostgreSQL), so
tests can commit, run concurrent writers and restart the app like production does.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from service import migrate
from service.app import create_app
from service.auth.schemas import Scope
from service.auth.service import create_token
from service.config import Settings
from service.db import make_engine, make_sessionmaker, session_scope

PG_URL = os.environ.get(
    "CUSTODY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "real"


def _pg_conninfo(database: str) -> str:
    url = make_url(PG_URL).set(drivername="postgresql", database=database)
    return url.render_as_string(hide_password=False)


def _pg_exec(sql: str) -> None:
    with psycopg.connect(
        _pg_conninfo(make_url(PG_URL).database or "postgres"), autocommit=True
    ) as c:
        c.execute(sql)


def pg_copy_of(template_db: str) -> Iterator[str]:
    """A fresh database made from `template_db`, dropped afterwards (for fixtures)."""
    name = f"custody_t_{uuid.uuid4().hex[:12]}"
    _pg_exec(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    yield _pg_url(name)
    _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def service_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    """The settings the tests run the service with, on `database_url`."""
    return Settings(
        database_url=database_url,
        log_format="json",
        run_background=False,
        signing_key_path=tmp_path / "signing-key.pem",
        rules_dir=REPO / "rules",
        runbooks_dir=REPO / "runbooks",
        **overrides,
    )


def _pg_url(database: str) -> str:
    return make_url(PG_URL).set(database=database).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    name = f"custody_tpl_{os.getpid()}"
    _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _pg_exec(f'CREATE DATABASE "{name}"')
    migrate.upgrade(_pg_url(name))
    yield name
    _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "custody.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    yield from pg_copy_of(request.getfixturevalue("pg_template"))


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh PostgreSQL database for tests that only make sense there."""
    yield from pg_copy_of(request.getfixturevalue("pg_template"))


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return service_settings(db_url, tmp_path)


@pytest.fixture
def app(settings: Settings) -> Iterator[Any]:
    application = create_app(settings)
    yield application
    application.state.engine.dispose()


@pytest.fixture
def sessions(app: Any) -> Any:
    return app.state.sessionmaker


@pytest.fixture
def make_token(sessions: Any) -> Callable[..., str]:
    def make(
        scope: Scope | str = Scope.admin,
        *,
        source: str | None = None,
        expires_in: timedelta | None = None,
    ) -> str:
        with session_scope(sessions) as session:
            created = create_token(
                session=session, scope=Scope(scope), source=source, expires_in=expires_in
            )
        return created.secret

    return make


@pytest.fixture
def client(app: Any, make_token: Callable[..., str]) -> Iterator[TestClient]:
    """An HTTP client through the ASGI app, authenticated as admin."""
    with TestClient(app, raise_server_exceptions=False) as c:
        c.headers["Authorization"] = f"Bearer {make_token(Scope.admin)}"
        yield c


@pytest.fixture
def engine_for(db_url: str) -> Callable[[], Any]:
    def make() -> Any:
        return make_engine(db_url)

    return make


def event(**overrides: Any) -> dict[str, Any]:
    """A realistic event; override any field."""
    base: dict[str, Any] = {
        "time": "2026-11-30T12:00:00.123Z",
        "source": "inference-gateway",
        "action": "model.invoke",
        "outcome": "success",
        "actor": {"type": "user", "id": "alice@example.com", "ip": "203.0.113.7"},
        "resource": {"type": "model", "id": "llm-prod", "version": "2026-11-01"},
        "request_id": "req-77",
        "attributes": {"tokens_in": 512, "tokens_out": 128},
    }
    base.update(overrides)
    return base


def session_for(db_url: str) -> Any:
    return make_sessionmaker(make_engine(db_url))


@pytest.fixture
def server(app: Any) -> Iterator[str]:
    """The app served by a live uvicorn on a free port (the CLI talks real HTTP)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)
