"""The background worker: every task runs, and a stuck one holds back no other."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from service.config import Settings
from service.db import session_scope
from service.incidents.models import Incident
from service.worker import build_tasks, run
from tests.conftest import event
from tests.incidents.conftest import open_incident

GUARDRAIL_RULE = "07b2abcd-9463-4ed7-bc8d-914dcf26f852"  # rules/guardrail_deleted.yml


def test_every_background_task_is_built(settings: Settings, tmp_path: Path) -> None:
    always = {"rules", "checkpointer", "sla-watch", "snooze-watch"}
    if not settings.is_sqlite:  # partitions ahead of the head: PostgreSQL only
        always.add("log-partitions")
    # The indexer runs only with the OpenSearch backend, the dispatcher only with targets.
    assert {task.name for task in build_tasks(settings)} == always
    targets = tmp_path / "targets.yml"
    targets.write_text("targets:\n  - {name: soc, type: slack, url: 'http://127.0.0.1:9/'}\n")
    configured = settings.model_copy(update={"notify_targets_file": targets})
    assert {task.name for task in build_tasks(configured)} == always | {"notify-dispatcher"}


@contextmanager
def black_hole() -> Iterator[dict[str, Any]]:
    """A webhook endpoint that accepts connections and never answers: a hung target."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    state: dict[str, Any] = {"url": f"http://127.0.0.1:{server.getsockname()[1]}/hook",
                             "accepted": []}  # fmt: skip

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            state["accepted"].append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.close()
        for conn in state["accepted"]:
            conn.close()


def wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_hung_notification_target_does_not_hold_back_detection(
    client: TestClient, sessions: Any, settings: Settings, tmp_path: Path
) -> None:
    with black_hole() as hole:
        targets = tmp_path / "targets.yml"
        targets.write_text(
            f"targets:\n  - name: hung\n    type: webhook\n    url: {hole['url']}\n"
            "    secret: whsec_dGVzdHNlY3JldHRlc3RzZWNyZXQ=\n    timeout_seconds: 60\n"
        )
        configured = settings.model_copy(update={"notify_targets_file": targets})
        open_incident(client, title="first: its notification hangs")
        stop = threading.Event()
        worker = threading.Thread(target=run, args=(build_tasks(configured), sessions, stop))
        worker.start()
        try:
            wait_for(lambda: hole["accepted"])  # the dispatcher is now stuck in a request
            r = client.post(
                "/v1/events",
                json=[event(action="guardrail.delete", resource={"type": "guardrail", "id": "g1"})],
            )
            assert r.status_code == 200, r.text

            def opened() -> bool:
                with session_scope(sessions) as s:
                    found = s.scalars(select(Incident).where(Incident.rule_id == GUARDRAIL_RULE))
                    return found.first() is not None

            wait_for(opened)
            # Detection went on while the first delivery was still hanging.
            assert len(hole["accepted"]) == 1
            with session_scope(sessions) as s:
                assert s.scalar(select(Incident.status).where(Incident.number == 1)) == "open"
        finally:
            stop.set()
    worker.join(timeout=90)  # the hung request ends when the black hole closes
    assert not worker.is_alive()


def test_the_worker_keeps_its_heartbeat_while_its_loops_run(
    settings: Settings, sessions: Any, tmp_path: Path
) -> None:
    heartbeat = tmp_path / "worker.heartbeat"
    stop = threading.Event()
    worker = threading.Thread(
        target=run, args=(build_tasks(settings), sessions, stop), kwargs={"heartbeat": heartbeat}
    )
    worker.start()
    try:
        wait_for(heartbeat.exists)
    finally:
        stop.set()
        worker.join(timeout=30)
    assert not worker.is_alive()
