"""`custody ship` against a real server process: restarts, re-runs, --follow resuming."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select

from bench.common import make_token
from service.auditlog.models import LogRecord
from service.db import database
from tests.client.live import Server, ship_process

SOURCE = "ship-test"


def stored(db_url: str) -> tuple[int, int]:
    """(rows, distinct ids) of the test source."""
    with database(db_url) as factory, factory() as session:
        q = select(func.count(), func.count(func.distinct(LogRecord.event_id))).where(
            LogRecord.source == SOURCE
        )
        rows, ids = session.execute(q).one()
        return int(rows), int(ids)


def lines(start: int, stop: int) -> bytes:
    """Custody events; every third one without an id (the shipper derives it)."""
    out = []
    for i in range(start, stop):
        e = {
            "time": f"2026-11-30T12:{i // 60 % 60:02d}:{i % 60:02d}Z",
            "source": SOURCE,
            "action": "model.invoke",
            "actor": {"id": f"user{i % 50}@example.com"},
            "attributes": {"n": i},
        }
        if i % 3:
            e["id"] = f"e{i}"
        out.append(orjson.dumps(e))
    return b"\n".join(out) + b"\n"


def wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[Server]:
    live = Server(db_url, tmp_path)
    live.start()
    yield live
    live.stop()


def test_server_killed_mid_file_loses_nothing_and_stores_nothing_twice(
    db_url: str, server: Server, tmp_path: Path
) -> None:
    token = make_token(db_url)
    total = 12_000
    path = tmp_path / "events.ndjson"
    path.write_bytes(lines(0, total))
    shipper = ship_process([str(path), "--batch-size", "250"], url=server.url, token=token)
    wait_for(lambda: stored(db_url)[0] >= 3000)
    server.kill()  # mid-file, probably mid-request
    time.sleep(1.0)  # the shipper meets refused connections meanwhile
    server.start()
    out, err = shipper.communicate(timeout=180)
    assert shipper.returncode == 0, err
    assert "retry" in err  # it did notice the outage
    assert stored(db_url) == (total, total)
    report = server.get(token, "/v1/log/verify")
    assert report["ok"], report

    # Shipping the same file again stores nothing new (derived ids are deterministic).
    again = ship_process([str(path)], url=server.url, token=token)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert f"{total} events shipped: 0 new, {total} already stored" in out
    assert stored(db_url) == (total, total)


def test_follow_resumes_after_restart_and_follows_rotation(
    db_url: str, server: Server, tmp_path: Path
) -> None:
    token = make_token(db_url)
    path = tmp_path / "audit.log"
    state = tmp_path / "ship.state"
    path.write_bytes(lines(0, 300))
    args = [str(path), "--follow", "--state-file", str(state)]

    shipper = ship_process(args, url=server.url, token=token)
    wait_for(lambda: stored(db_url)[0] == 300)
    with path.open("ab") as f:
        f.write(lines(300, 500))
    wait_for(lambda: stored(db_url)[0] == 500)
    wait_for(lambda: orjson.loads(state.read_bytes())["files"][-1]["offset"] == path.stat().st_size)
    shipper.send_signal(signal.SIGKILL)
    shipper.communicate(timeout=10)

    with path.open("ab") as f:  # written while no shipper runs
        f.write(lines(500, 600))
    shipper = ship_process(args, url=server.url, token=token)
    wait_for(lambda: stored(db_url)[0] == 600)

    # Rotation: the file is moved away and a new one starts from scratch.
    os.rename(path, tmp_path / "audit.log.1")
    path.write_bytes(lines(600, 650))
    wait_for(lambda: stored(db_url)[0] == 650)
    time.sleep(0.5)  # nothing more arrives
    shipper.send_signal(signal.SIGTERM)
    shipper.communicate(timeout=10)
    assert stored(db_url) == (650, 650)
    assert server.get(token, "/v1/log/verify")["ok"]


def test_cli_reports_the_refused_records_and_exits_1(
    db_url: str, server: Server, tmp_path: Path
) -> None:
    token = make_token(db_url)
    path = tmp_path / "events.ndjson"
    body = lines(0, 300).split(b"\n")
    body[210] = body[210].replace(b'"model.invoke"', b'"Model Invoke"')
    path.write_bytes(b"\n".join(body))
    shipper = ship_process([str(path), "--batch-size", "100"], url=server.url, token=token)
    _, err = shipper.communicate(timeout=60)
    assert shipper.returncode == 1, err
    assert "200 events before it are stored" in err
    assert f"{path}:211: action: String should match pattern" in err
    assert stored(db_url) == (200, 200)
