"""Shared benchmark plumbing: scratch databases, a live server, realistic events."""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

from service import migrate
from service.auth.schemas import Scope
from service.auth.service import create_token
from service.db import database, session_scope

PG_URL = os.environ.get(
    "CUSTODY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ACTIONS = [
    "model.invoke",
    "model.invoke",
    "model.invoke",
    "model.read",
    "model.weights.download",
    "dataset.read",
    "auth.login.success",
    "auth.login.failure",
    "apikey.create",
    "policy.update",
]


def realistic_events(n: int, *, seed: int = 7) -> list[dict[str, Any]]:
    """~400-byte events shaped like an inference gateway's audit stream."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        action = rng.choice(ACTIONS)
        out.append(
            {
                "id": f"evt-{i:09d}",
                "time": f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}.{i % 1000:03d}Z",
                "source": "inference-gateway",
                "action": action,
                "outcome": "denied" if rng.random() < 0.05 else "success",
                "actor": {
                    "type": "user",
                    "id": f"user{rng.randrange(500)}@example.com",
                    "ip": f"203.0.113.{rng.randrange(255)}",
                    "user_agent": "openai-python/1.54.0",
                },
                "resource": {
                    "type": "model",
                    "id": f"llm-{rng.randrange(20)}",
                    "version": "2026-11-01",
                },
                "request_id": f"req-{uuid.UUID(int=rng.getrandbits(128)).hex[:16]}",
                "attributes": {
                    "tokens_in": rng.randrange(4000),
                    "tokens_out": rng.randrange(1000),
                    "latency_ms": rng.randrange(3000),
                    "region": "eu-west-1",
                },
            }
        )
    return out


@contextlib.contextmanager
def scratch_database(backend: str) -> Iterator[str]:
    """A freshly migrated database, dropped afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            migrate.upgrade(url)
            yield url
        return
    name = f"custody_bench_{uuid.uuid4().hex[:8]}"
    admin = make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_token(url: str, scope: Scope = Scope.admin) -> str:
    with database(url) as factory, session_scope(factory) as session:
        return create_token(session=session, scope=scope, name="bench").secret


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def live_server(url: str, **env: str) -> Iterator[LiveServer]:
    """`custody serve` in a subprocess (killed on exit if still running)."""
    port = free_port()
    environ = {
        **os.environ,
        "CUSTODY_DATABASE_URL": url,
        "CUSTODY_LOG_LEVEL": "WARNING",
        "CUSTODY_LOG_FORMAT": "json",
        "CUSTODY_INGEST_RATE_LIMIT_PER_MINUTE": "100000000",
        "CUSTODY_RATE_LIMIT_PER_MINUTE": "100000000",
        **env,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    time.sleep(0.2)
                    # Another process may own the port (a race with free_port): ours died.
                    if proc.poll() is None:
                        break
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "server died")
            time.sleep(0.1)
        yield LiveServer(base, proc)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)
        if proc.stderr:
            proc.stderr.close()


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>10,.0f} events/s"
