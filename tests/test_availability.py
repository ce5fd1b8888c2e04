"""Database outages through the real app: 503 problem+json with Retry-After (never a 500),
/readyz not ready meanwhile, recovery by itself, and nothing half-written."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event as sa_event
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from service.app import create_app
from service.auditlog.models import LogRecord
from service.auth.schemas import Scope
from service.auth.service import create_token
from service.availability import unavailable_reason
from service.config import Settings
from service.db import make_engine, session_scope
from tests.conftest import REPO, _pg_conninfo, event


def settings_for(url: str, tmp: Path, **extra: Any) -> Settings:
    return Settings(
        database_url=url,
        log_format="json",
        run_background=False,
        signing_key_path=tmp / "signing-key.pem",
        rules_dir=REPO / "rules",
        runbooks_dir=REPO / "runbooks",
        unavailable_retry_after=1,
        **extra,
    )


def batch(n: int, prefix: str) -> list[dict[str, Any]]:
    return [
        event(id=f"{prefix}-{i}", source="outage", attributes={"pad": "x" * 400}) for i in range(n)
    ]


def stored(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            q = select(func.count()).where(LogRecord.source == "outage")
            return int(conn.execute(q).scalar_one())
    finally:
        engine.dispose()


def admin_token(app: Any) -> str:
    with session_scope(app.state.sessionmaker) as session:
        return create_token(session=session, scope=Scope.admin).secret


def assert_unavailable(r: Any) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["retry-after"] == "1"
    assert r.json()["title"] == "Service unavailable"


def wait_ready(client: TestClient, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, client.get("/readyz").json()
        time.sleep(0.1)


def verified(client: TestClient) -> None:
    report = client.get("/v1/log/verify").json()
    assert report["ok"], report


# ------------------------------------------------------------------ SQLite


@pytest.fixture
def small_disk(sqlite_template: Path, tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB tmpfs holding the database: a disk that really fills up (needs root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; test_sqlite_size_cap covers disk full")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], check=True)
    try:
        shutil.copyfile(sqlite_template, mount / "custody.db")
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path, leave: int) -> Path:
    """A file taking all the free space of `folder`'s file system but `leave` bytes."""
    stat = os.statvfs(folder)
    filler = folder / "filler"
    with filler.open("wb") as f:
        f.write(b"\0" * max(0, stat.f_bavail * stat.f_frsize - leave))
    return filler


def test_sqlite_disk_full_is_503_until_space_is_freed(small_disk: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{small_disk / 'custody.db'}"
    app = create_app(settings_for(url, tmp_path, min_free_disk_bytes=64 * 1024))
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {admin_token(app)}"
        assert client.get("/readyz").status_code == 200
        filler = fill(small_disk, leave=400 * 1024)
        accepted, failed = 0, None
        for n in range(40):  # ~100 KiB per batch: the disk fills within a few
            items = batch(200, f"b{n}")
            r = client.post("/v1/events", json=items)
            if r.status_code != 200:
                failed = items
                break
            accepted += r.json()["accepted"]
        assert failed is not None, "the disk never filled"
        assert_unavailable(r)
        assert "database or disk is full" in r.json()["detail"]
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.headers["retry-after"] == "1"
        assert client.get("/healthz").status_code == 200  # alive, just not ready

        filler.unlink()  # the operator frees space; nothing else is done
        wait_ready(client)
        r = client.post("/v1/events", json=failed)
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] == 200  # the failed batch had stored nothing
        verified(client)
    app.state.engine.dispose()
    assert stored(url) == accepted + 200


def test_sqlite_size_cap(sqlite_template: Path, tmp_path: Path) -> None:
    """Disk full without root: the database may not grow past a page count."""
    path = tmp_path / "custody.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    cap = [0]

    @sa_event.listens_for(engine, "begin")
    def _cap(conn: Any) -> None:
        if cap[0]:
            conn.exec_driver_sql(f"PRAGMA max_page_count={cap[0]}")

    app = create_app(settings_for(url, tmp_path), engine=engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {admin_token(app)}"
        with engine.connect() as conn:
            cap[0] = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one()) + 20
        accepted = 0
        for n in range(40):
            items = batch(100, f"c{n}")
            r = client.post("/v1/events", json=items)
            if r.status_code != 200:
                break
            accepted += r.json()["accepted"]
        assert_unavailable(r)
        time.sleep(1.1)  # past the hold: only the write probe can tell now
        assert client.get("/readyz").status_code == 503
        cap[0] = 0  # room again
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA max_page_count=4294967294")
        engine.dispose()  # pooled connections keep their cap; new ones have none
        wait_ready(client)
        assert client.post("/v1/events", json=items).json()["accepted"] == 100
        verified(client)
    engine.dispose()
    assert stored(url) == accepted + 100


def test_sqlite_lock_timeout_is_503(sqlite_template: Path, tmp_path: Path) -> None:
    shutil.copyfile(sqlite_template, tmp_path / "custody.db")
    db_url = f"sqlite:///{tmp_path / 'custody.db'}"
    engine = make_engine(db_url)

    @sa_event.listens_for(engine, "connect")
    def _short(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=200")

    app = create_app(settings_for(db_url, tmp_path), engine=engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {admin_token(app)}"
        other = sqlite3.connect(str(make_url(db_url).database), isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")  # another process holding the write lock
        r = client.post("/v1/events", json=batch(5, "l"))
        assert client.get("/readyz").status_code == 503
        other.execute("ROLLBACK")
        other.close()
        assert_unavailable(r)
        assert "database is locked" in r.json()["detail"]
        wait_ready(client)
        assert client.post("/v1/events", json=batch(5, "l")).json()["accepted"] == 5
    engine.dispose()


def test_pool_exhausted_is_503(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    app = create_app(settings_for(db_url, tmp_path), engine=engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {admin_token(app)}"
        held = engine.connect()  # every connection busy
        r = client.post("/v1/events", json=batch(3, "p"))
        assert_unavailable(r)
        assert "pool exhausted" in r.json()["detail"]
        held.close()
        wait_ready(client)
        assert client.post("/v1/events", json=batch(3, "p")).json()["accepted"] == 3
    engine.dispose()


# -------------------------------------------------------------- PostgreSQL


def pg_admin(sql: str) -> None:
    with psycopg.connect(_pg_conninfo("postgres"), autocommit=True) as conn:
        conn.execute(sql)


def test_postgres_refusing_connections_is_503_then_recovers(pg_url: str, tmp_path: Path) -> None:
    name = make_url(pg_url).database
    app = create_app(settings_for(pg_url, tmp_path))
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {admin_token(app)}"
        assert client.post("/v1/events", json=batch(10, "a")).json()["accepted"] == 10
        pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        pg_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        try:
            assert_unavailable(client.post("/v1/events", json=batch(10, "b")))
            assert client.get("/readyz").status_code == 503
            assert client.get("/healthz").status_code == 200
        finally:
            pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        wait_ready(client)
        assert client.post("/v1/events", json=batch(10, "b")).json()["accepted"] == 10
        verified(client)
    app.state.engine.dispose()
    assert stored(pg_url) == 20


def test_postgres_read_only_is_503_then_recovers(pg_url: str, tmp_path: Path) -> None:
    name = make_url(pg_url).database
    app = create_app(settings_for(pg_url, tmp_path))
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {admin_token(app)}"
        pg_admin(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        pg_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        try:
            r = client.post("/v1/events", json=batch(10, "r"))
            assert_unavailable(r)
            assert "25006" in r.json()["detail"]
            time.sleep(1.1)  # past the hold: the probe itself sees the read-only session
            assert client.get("/readyz").json()["reason"] == "database is read-only"
        finally:
            pg_admin(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
            pg_admin(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            )
        wait_ready(client)
        assert client.post("/v1/events", json=batch(10, "r")).json()["accepted"] == 10
    app.state.engine.dispose()


def test_postgres_connection_terminated_mid_request(pg_url: str, tmp_path: Path) -> None:
    """The ingest transaction's backend is killed while it waits for the chain head:
    503, and nothing of that batch is in the log."""
    name = make_url(pg_url).database
    app = create_app(settings_for(pg_url, tmp_path))
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {admin_token(app)}"
        assert client.post("/v1/events", json=batch(10, "a")).json()["accepted"] == 10
        answer: dict[str, Any] = {}
        with psycopg.connect(_pg_conninfo(str(name))) as blocker:
            blocker.execute("SELECT seq FROM log_head WHERE id = 1 FOR UPDATE")
            thread = threading.Thread(
                target=lambda: answer.update(r=client.post("/v1/events", json=batch(10, "b")))
            )
            thread.start()
            waiting = wait_for_pid(blocker.info.backend_pid, name)
            pg_admin(f"SELECT pg_terminate_backend({waiting})")
            blocker.rollback()
        thread.join(30)
        assert_unavailable(answer["r"])
        assert stored(pg_url) == 10  # nothing half-written
        wait_ready(client)
        assert client.post("/v1/events", json=batch(10, "b")).json()["accepted"] == 10
        verified(client)
    app.state.engine.dispose()


def wait_for_pid(blocker: int, database: str | None) -> int:
    """The backend blocked by `blocker` (the app's ingest transaction)."""
    deadline = time.monotonic() + 10
    with psycopg.connect(_pg_conninfo("postgres"), autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s "
                "AND %s = ANY(pg_blocking_pids(pid))",
                (database, blocker),
            ).fetchone()
            if row:
                return int(row[0])
            time.sleep(0.05)
    raise AssertionError("the ingest request never waited for the chain head")


# ------------------------------------------------------------ classification


def test_only_outages_are_classified_as_such(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.connect() as conn, pytest.raises(Exception) as bug:
        conn.execute(text("SELECT no_such_column FROM log_head"))
    assert unavailable_reason(bug.value) is None  # a bug stays a 500
    engine.dispose()
    refused = make_url(db_url).set(port=1) if db_url.startswith("postgresql") else None
    if refused is not None:
        dead = make_engine(refused.render_as_string(hide_password=False))
        with pytest.raises(Exception) as outage:
            dead.connect()
        assert "database unreachable" in (unavailable_reason(outage.value) or "")
        dead.dispose()
