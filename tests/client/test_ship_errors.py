"""`custody ship` says which URL failed, and gives up at once on a wrong base URL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.common import free_port, make_token
from tests.client.live import Server, ship_process
from tests.client.test_ship_live import lines


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[Server]:
    live = Server(db_url, tmp_path)
    live.start()
    yield live
    live.stop()


def test_a_wrong_base_url_is_named_and_fails_fast(
    db_url: str, server: Server, tmp_path: Path
) -> None:
    path = tmp_path / "events.ndjson"
    path.write_bytes(lines(0, 10))
    started = time.monotonic()
    shipper = ship_process([str(path)], url=f"{server.url}/custody", token=make_token(db_url))
    _, err = shipper.communicate(timeout=60)
    assert shipper.returncode == 2, err
    assert "wrong server URL" in err
    assert f"{server.url}/custody/v1/events answered 404" in err
    assert time.monotonic() - started < 15  # no retries with backoff


def test_an_unreachable_server_is_named(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    path.write_bytes(lines(0, 10))
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    shipper = ship_process([str(path), "--max-attempts", "2"], url=url, token="t")
    _, err = shipper.communicate(timeout=60)
    assert shipper.returncode == 3, err
    assert "server unavailable" in err
    assert f"reaching {url}/v1/events" in err
