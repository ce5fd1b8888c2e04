"""AuditHandler and the structlog processor: never block the caller, bounded memory."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog
from fastapi.testclient import TestClient

from service.client import AuditHandler, AuditProcessor, BackgroundShipper, Client, RetryPolicy


@pytest.fixture
def audit_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger(f"audit.test.{time.monotonic_ns()}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


def blocked_client(release: threading.Event, seen: list[int]) -> Client:
    """A server that hangs until `release` is set, then accepts everything."""

    def handle(request: httpx.Request) -> httpx.Response:
        release.wait(30)
        n = request.content.count(b"\n")
        seen.append(n)
        return httpx.Response(200, json={"accepted": n, "duplicates": 0, "head_hash": "h"})

    return Client(http=httpx.Client(transport=httpx.MockTransport(handle), base_url="http://x"))


def test_records_reach_the_log_with_time_source_id_and_message(
    client: TestClient, audit_logger: logging.Logger
) -> None:
    http = httpx.Client(
        transport=client._transport, base_url=client.base_url, headers=client.headers
    )
    handler = AuditHandler(client=Client(http=http), source="notebook-svc", flush_interval=0.05)
    audit_logger.addHandler(handler)
    audit_logger.info("not an audit record")  # ignored: no `audit` extra
    audit_logger.info(
        "user %s downloaded weights",
        "alice",
        extra={
            "audit": {
                "action": "model.weights.download",
                "actor": {"id": "alice@example.com"},
                "resource": {"type": "model", "id": "llm-prod"},
                "attributes": {"bytes": 123},
            }
        },
    )
    handler.flush()
    assert handler.shipper.sent == 1
    items = client.get("/v1/events", params={"source": "notebook-svc", "include_raw": True})
    (stored,) = items.json()["items"]
    assert stored["action"] == "model.weights.download"
    assert stored["attributes"] == {"bytes": 123, "message": "user alice downloaded weights"}
    assert stored["id"] and stored["time"].endswith("Z")


def test_emit_never_blocks_and_memory_stays_bounded(audit_logger: logging.Logger) -> None:
    release = threading.Event()
    seen: list[int] = []
    handler = AuditHandler(client=blocked_client(release, seen), max_queue=1000, batch_size=100)
    audit_logger.addHandler(handler)
    started = time.perf_counter()
    for i in range(20_000):
        audit_logger.info("x", extra={"audit": {"action": "model.invoke", "source": "s", "n": i}})
    elapsed = time.perf_counter() - started
    # 20k records while the server hangs: the caller never waits for it.
    assert elapsed < 5, elapsed
    assert handler.shipper.queued <= 1000
    in_flight = 100  # the batch the worker is stuck posting
    assert handler.dropped == 20_000 - 1000 - in_flight
    release.set()
    handler.flush(10)
    assert sum(seen) == 1000 + in_flight
    assert handler.shipper.sent + handler.dropped == 20_000


def test_long_outage_drops_oldest_and_says_so(
    audit_logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    sent: list[bytes] = []
    down = threading.Event()
    down.set()

    def handle(request: httpx.Request) -> httpx.Response:
        if down.is_set():
            raise httpx.ConnectError("refused")
        sent.append(request.content)
        return httpx.Response(200, json={"accepted": 1, "duplicates": 0})

    client = Client(http=httpx.Client(transport=httpx.MockTransport(handle), base_url="http://x"))
    handler = AuditHandler(client=client, max_queue=10, batch_size=5, flush_interval=0.01)
    handler.shipper.retry = RetryPolicy(max_attempts=None, base_delay=0.001, max_delay=0.01)
    audit_logger.addHandler(handler)
    with caplog.at_level(logging.WARNING, logger="custody.client"):
        for i in range(5):  # taken by the worker, stuck retrying
            audit_logger.info("x", extra={"audit": {"action": "a", "source": "s", "n": i}})
        deadline = time.monotonic() + 5
        while handler.shipper.queued and time.monotonic() < deadline:
            time.sleep(0.01)
        for i in range(5, 40):
            audit_logger.info("x", extra={"audit": {"action": "a", "source": "s", "n": i}})
        assert handler.dropped == 25  # 35 arrived for 10 places: the oldest 25 went
        assert any("cannot ship audit events" in r.getMessage() for r in caplog.records)
    down.clear()
    handler.flush(10)
    shipped = b"".join(sent)
    assert b'"n":0' in shipped and b'"n":39' in shipped  # in-flight and newest kept
    assert b'"n":5,' not in shipped  # oldest queued were dropped


def test_close_gives_up_within_its_timeout(audit_logger: logging.Logger) -> None:
    release = threading.Event()
    handler = AuditHandler(client=blocked_client(release, []), batch_size=2)
    audit_logger.addHandler(handler)
    for _ in range(5):
        audit_logger.info("x", extra={"audit": {"action": "a", "source": "s"}})
    started = time.perf_counter()
    handler.shipper.close(timeout=0.3)
    release.set()
    assert time.perf_counter() - started < 5


def test_structlog_processor_ships_audit_events() -> None:
    posted: list[bytes] = []

    def handle(request: httpx.Request) -> httpx.Response:
        posted.append(request.content)
        return httpx.Response(200, json={"accepted": 1, "duplicates": 0})

    client = Client(http=httpx.Client(transport=httpx.MockTransport(handle), base_url="http://x"))
    shipper = BackgroundShipper(client, flush_interval=0.01)
    captured: list[Any] = []
    log = structlog.wrap_logger(
        None,
        processors=[
            AuditProcessor(shipper, source="gw"),
            lambda _l, _m, d: captured.append(d) or "",
        ],
    )
    log.info("plain line")
    log.info("key created", audit={"action": "apikey.create", "actor": {"id": "bob"}})
    shipper.flush(5)
    shipper.close()
    assert len(posted) == 1
    assert b'"action":"apikey.create"' in posted[0] and b'"source":"gw"' in posted[0]
    assert b'"message":"key created"' in posted[0]
    assert len(captured) == 2  # the processor passes every event dict on
