"""A PostgreSQL template migrated with partitions of 10 seqs, so a test crosses
partition boundaries with a few dozen events; and helpers to fill and archive it."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from service import migrate
from service.app import create_app
from service.auth.schemas import Scope
from service.auth.service import create_token
from service.config import Settings
from service.db import session_scope
from service.evidence.checkpoints import checkpoint_now, signer
from service.evidence.keys import public_key_pem
from tests.conftest import _pg_exec, _pg_url, event, pg_copy_of, service_settings

PARTITION = 10


@pytest.fixture(scope="session")
def small_template() -> Iterator[str]:
    name = f"custody_tpl_small_{os.getpid()}"
    _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _pg_exec(f'CREATE DATABASE "{name}"')
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CUSTODY_LOG_PARTITION_SIZE", str(PARTITION))
        migrate.upgrade(_pg_url(name))
    yield name
    _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def small_url(small_template: str) -> Iterator[str]:
    yield from pg_copy_of(small_template)


@pytest.fixture
def small_settings(small_url: str, tmp_path: Path) -> Settings:
    return service_settings(
        small_url, tmp_path, log_partition_size=PARTITION, archive_dir=tmp_path / "archive"
    )


class Log:
    """The app over the small-partition database, with the calls the tests repeat."""

    def __init__(self, settings: Settings, client: TestClient, app: Any) -> None:
        self.settings = settings
        self.client = client
        self.sessions = app.state.sessionmaker
        self.signer = signer(settings.signing_key_path)
        self.sent = 0

    def ingest(self, n: int, batch: int = 7) -> None:
        while n > 0:
            k = min(batch, n)
            body = [event(id=f"e{self.sent + i}", actor={"id": f"user{self.sent + i}"})
                    for i in range(k)]  # fmt: skip
            answer = self.client.post("/v1/events", json=body)
            assert answer.status_code == 200, answer.text
            self.sent += k
            n -= k

    def checkpoint(self) -> int:
        with session_scope(self.sessions) as session:
            return checkpoint_now(session=session, signer=self.signer).tree_size

    def head(self) -> int:
        return int(self.client.get("/v1/log/head").json()["seq"])

    def public_key(self, path: Path) -> Path:
        path.write_bytes(public_key_pem(self.signer.key))
        return path


@pytest.fixture
def log(small_settings: Settings) -> Iterator[Log]:
    app = create_app(small_settings)
    with create_token_session(app) as secret, TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {secret}"
        yield Log(small_settings, client, app)
    app.state.engine.dispose()


@contextlib.contextmanager
def create_token_session(app: Any) -> Iterator[str]:
    with session_scope(app.state.sessionmaker) as session:
        secret = create_token(session=session, scope=Scope.admin).secret
    yield secret


def pg(url: str) -> psycopg.Connection[Any]:
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(conninfo, autocommit=True)


def partitions(url: str) -> list[str]:
    with pg(url) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'log_records' ORDER BY 1"
        ).fetchall()
    return [r[0] for r in rows]


Factory = Callable[..., Any]


@pytest.fixture(scope="session")
def runtime_role() -> Iterator[str]:
    """A role of this session; `custody db roles` creates it in the first database."""
    role = f"custody_rt_arch_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    yield role
    with contextlib.suppress(psycopg.Error):
        _pg_exec(f'DROP ROLE IF EXISTS "{role}"')
