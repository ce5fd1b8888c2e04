"""Background work runs once across processes: a PostgreSQL advisory lock elects the
leader, and a standby takes over when the leader is killed (kill -9)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from service.app import create_app
from service.auth.schemas import Scope
from service.auth.service import create_token
from service.config import Settings
from service.db import database, make_engine, session_scope
from service.evidence.models import CheckpointRow
from service.leader import LOCK_KEY, Leadership
from tests.conftest import REPO, event


def worker_env(pg_url: str, tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CUSTODY_DATABASE_URL": pg_url,
        "CUSTODY_LOG_FORMAT": "json",
        "CUSTODY_SIGNING_KEY_PATH": str(tmp / "signing-key.pem"),
        "CUSTODY_RULES_DIR": str(REPO / "rules"),
        "CUSTODY_RUNBOOKS_DIR": str(REPO / "runbooks"),
        "CUSTODY_CHECKPOINT_EVERY_EVENTS": "10",
    }


class Worker:
    def __init__(self, pg_url: str, tmp: Path, name: str) -> None:
        self.log = tmp / f"{name}.log"
        with self.log.open("wb") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service.cli", "worker"],
                env=worker_env(pg_url, tmp),
                cwd=REPO,
                stdout=sink,
                stderr=sink,
            )

    def events(self) -> list[str]:
        out = []
        for line in self.log.read_bytes().splitlines():
            try:
                out.append(str(orjson.loads(line).get("event")))
            except orjson.JSONDecodeError:
                continue
        return out

    def leads(self) -> bool:
        return "worker.leader" in self.events()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def wait_for(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def checkpointed(pg_url: str) -> int:
    with database(pg_url) as factory, factory() as session:
        return int(
            session.execute(
                select(func.coalesce(func.max(CheckpointRow.tree_size), 0))
            ).scalar_one()
        )


def lock_holders(pg_url: str) -> int:
    with database(pg_url) as factory, factory() as session:
        q = text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND (classid::bigint << 32) + objid::bigint = :key"
        )
        return int(session.execute(q, {"key": LOCK_KEY}).scalar_one())


@pytest.fixture
def api(pg_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        database_url=pg_url,
        log_format="json",
        run_background=False,
        signing_key_path=tmp_path / "signing-key.pem",
    )
    app = create_app(settings)
    with session_scope(app.state.sessionmaker) as session:
        secret = create_token(session=session, scope=Scope.admin).secret
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {secret}"
        yield client
    app.state.engine.dispose()


def post(client: TestClient, prefix: str, n: int) -> Any:
    items = [event(id=f"{prefix}-{i}") for i in range(n)]
    r = client.post("/v1/events", json=items)
    assert r.status_code == 200, r.text
    return r.json()


def test_one_leader_and_takeover_after_kill_9(pg_url: str, tmp_path: Path, api: TestClient) -> None:
    first = Worker(pg_url, tmp_path, "a")
    second: Worker | None = None
    try:
        wait_for(first.leads)
        second = Worker(pg_url, tmp_path, "b")
        wait_for(lambda: "worker.start" in second.events() if second else False)
        post(api, "one", 15)
        wait_for(lambda: checkpointed(pg_url) >= 15)  # the leader works
        assert not second.leads()  # the standby does not
        assert lock_holders(pg_url) == 1

        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
        wait_for(second.leads, timeout=15)  # takeover
        head = post(api, "two", 15)["last_seq"]
        wait_for(lambda: checkpointed(pg_url) >= head)
        assert lock_holders(pg_url) == 1
    finally:
        first.stop()
        if second is not None:
            second.stop()


def test_a_leader_whose_lock_connection_dies_steps_down(pg_url: str) -> None:
    engines = [make_engine(pg_url), make_engine(pg_url)]
    first, second = (Leadership(e, retry_every=0, check_every=0) for e in engines)
    try:
        assert first.holds()
        assert not second.holds()
        with database(pg_url) as factory, factory() as session:
            session.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND (classid::bigint << 32) + objid::bigint = :key"
                ),
                {"key": LOCK_KEY},
            )
        assert not first.holds()  # it notices at its next check and stops
        assert second.holds()
        assert not first.holds()
    finally:
        first.release()
        second.release()
        for engine in engines:
            engine.dispose()
