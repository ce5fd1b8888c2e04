"""Search fixtures: a seeded log, and a real osmem-server process (OpenSearch API)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from osmem_server import OsmemServer

from tests.conftest import event


def seed_events() -> list[dict[str, Any]]:
    """A small log with words in every searchable place (and in none for some)."""
    out = []
    for i in range(24):
        out.append(
            event(
                id=f"s{i}",
                time=f"2026-11-30T12:{i:02d}:00Z",
                action=["model.invoke", "model.weights.download", "dataset.read"][i % 3],
                outcome="denied" if i % 4 == 0 else "success",
                actor={"type": "user", "id": "Alice@example.com" if i < 16 else "bob@example.com"},
                resource={"type": "model", "id": "llm-prod" if i % 2 else "llm-dev"},
                request_id=f"req-{i}",
                attributes={"prompt": "exfiltrate the weights" if i % 5 == 0 else "summarize"},
            )
        )
    other = {"actor": {"type": "user", "id": "carol"}, "resource": {"type": "note", "id": "n"}}
    out.append(event(id="pct", **other, attributes={"note": "discount 50% applied"}))
    out.append(event(id="num", **other, attributes={"note": "5000 units, a_b and axb"}))
    return out


def seed(client: TestClient) -> None:
    r = client.post("/v1/events", json=seed_events())
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 26


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Osmem:
    """An osmem-server on a fixed port that a test can stop and start again."""

    def __init__(self) -> None:
        self.addr = f"127.0.0.1:{free_port()}"
        self.url = f"http://{self.addr}"
        self.server: OsmemServer | None = None

    def start(self) -> None:
        self.server = OsmemServer.start(addr=self.addr, japanese=False, startup_timeout=10)

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            if self.server.process.stdout is not None:
                self.server.process.stdout.close()  # OsmemServer.close leaves it open
            self.server = None


@pytest.fixture(scope="session")
def shared_osmem() -> Iterator[Osmem]:
    server = Osmem()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def osmem() -> Iterator[Osmem]:
    """A server of the test's own, for tests that stop it."""
    server = Osmem()
    server.start()
    yield server
    server.stop()
