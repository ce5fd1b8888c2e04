"""kill -9 in the middle of ingest loses no acknowledged event and leaves a valid chain."""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx

from bench.common import live_server, make_token
from service.auditlog import queries
from service.auditlog.schemas import EventFilters
from service.auditlog.verify import verify_chain
from service.db import database
from tests.conftest import event


def _post_until_killed(
    base: str, token: str, acknowledged: list[str], stop: threading.Event
) -> None:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10) as c:
        n = 0
        while not stop.is_set():
            batch = [event(id=f"c{n}-{i}") for i in range(100)]
            n += 1
            try:
                r = c.post("/v1/events", json=batch)
            except httpx.HTTPError:
                return  # the server died mid-request: this batch was never acknowledged
            if r.status_code == 200:
                acknowledged.extend(e["id"] for e in batch)


def test_kill_9_loses_no_acknowledged_event(db_url: str) -> None:
    token = make_token(db_url)
    acknowledged: list[str] = []
    stop = threading.Event()
    with live_server(db_url, CUSTODY_RUN_BACKGROUND="false") as server:
        poster = threading.Thread(
            target=_post_until_killed, args=(server.url, token, acknowledged, stop)
        )
        poster.start()
        deadline = time.monotonic() + 20
        while len(acknowledged) < 1500 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(server.process.pid, signal.SIGKILL)
        poster.join(30)
        stop.set()
    assert len(acknowledged) >= 1500
    with database(db_url) as factory, factory() as session:
        stored = {
            e["id"]
            for e in queries.stream(
                session=session, filters=EventFilters(source="inference-gateway")
            )
        }
        report = verify_chain(session=session)
    missing = [i for i in acknowledged if i not in stored]
    assert not missing, f"{len(missing)} acknowledged events lost"
    assert report.ok, report

    # and the service comes back on the same database, continuing the chain
    with live_server(db_url, CUSTODY_RUN_BACKGROUND="false") as server:
        base = server.url
        headers = {"Authorization": f"Bearer {token}"}
        r = httpx.post(f"{base}/v1/events", json=event(id="after-restart"), headers=headers)
        assert r.status_code == 200
        assert httpx.get(f"{base}/v1/log/verify", headers=headers, timeout=60).json()["ok"]
