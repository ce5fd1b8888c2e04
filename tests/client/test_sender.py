"""Client.send against the real app: batching, idempotent retries, refusals mapped back."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from service.auditlog.models import LogRecord
from service.client import Client, Rejected, RetryPolicy
from tests.conftest import event


def count(app: Any, source: str = "inference-gateway") -> int:
    with app.state.sessionmaker() as s:
        q = select(func.count()).select_from(LogRecord).where(LogRecord.source == source)
        return int(s.execute(q).scalar_one())


class Recording(httpx.BaseTransport):
    """Forwards to the app; can lose the answer of chosen requests after the server
    handled them (the case retries must survive without storing twice)."""

    def __init__(self, inner: httpx.BaseTransport, lose: set[int] | None = None) -> None:
        self.inner = inner
        self.lose = lose or set()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = self.inner.handle_request(request)
        if len(self.requests) in self.lose:
            response.read()
            raise httpx.ReadError("connection reset after the server answered")
        return response


def client_for(tc: TestClient, transport: Recording, **kwargs: Any) -> Client:
    http = httpx.Client(transport=transport, base_url=tc.base_url, headers=tc.headers)
    return Client(http=http, sleep=lambda _: None, **kwargs)


def test_send_batches_by_count_and_assigns_missing_ids(client: TestClient, app: Any) -> None:
    transport = Recording(client._transport)
    events = [event(id=f"s{i}") if i % 2 else event() for i in range(2500)]
    result = client_for(client, transport, batch_size=1000).send(events)
    assert (result.accepted, result.duplicates, result.batches) == (2500, 0, 3)
    assert len(transport.requests) == 3
    assert all(r.headers["content-type"] == "application/x-ndjson" for r in transport.requests)
    assert count(app) == 2500
    assert all("id" not in e for e in events[::2]), "the caller's dicts are not modified"


def test_send_batches_by_bytes(client: TestClient, app: Any) -> None:
    transport = Recording(client._transport)
    events = [event(id=f"b{i}", attributes={"pad": "x" * 1000}) for i in range(50)]
    result = client_for(client, transport, max_batch_bytes=20_000).send(events)
    assert result.accepted == 50
    assert all(len(r.content) <= 20_000 for r in transport.requests)
    assert len(transport.requests) >= 3


def test_a_lost_answer_is_retried_without_storing_twice(client: TestClient, app: Any) -> None:
    transport = Recording(client._transport, lose={1})
    result = client_for(client, transport).send([event() for _ in range(10)])
    assert len(transport.requests) == 2  # the same body, sent again
    assert transport.requests[0].content == transport.requests[1].content
    assert (result.accepted, result.duplicates) == (0, 10)  # the first try had stored them
    assert count(app) == 10


def test_refusal_names_positions_in_the_whole_stream(client: TestClient, app: Any) -> None:
    events = [event(id=f"r{i}") for i in range(1500)]
    events[1234] = event(id="r1234", action="Not.Valid")
    with pytest.raises(Rejected) as caught:
        client_for(client, Recording(client._transport), batch_size=1000).send(events)
    assert caught.value.status == 422
    assert [e["index"] for e in caught.value.errors] == [1234]
    assert caught.value.errors[0]["field"] == "action"
    assert count(app) == 1000  # the batch before it is stored, the refused one is not


def test_gzip_bodies(client: TestClient, app: Any) -> None:
    transport = Recording(client._transport)
    result = client_for(client, transport, compress=True).send([event() for _ in range(100)])
    assert result.accepted == 100
    assert transport.requests[0].headers["content-encoding"] == "gzip"


def test_unreachable_server_gives_up_after_the_policy(tmp_path: Any) -> None:
    from service.client import GaveUp

    waits: list[float] = []
    with (
        Client(
            "http://127.0.0.1:9",  # discard port: nothing listens
            "token",
            retry=RetryPolicy(max_attempts=3),
            sleep=waits.append,
        ) as c,
        pytest.raises(GaveUp, match="ConnectError"),
    ):
        c.send([event()])
    assert len(waits) == 2


def test_config_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from service.client.http import ClientConfigError

    monkeypatch.delenv("CUSTODY_URL", raising=False)
    monkeypatch.delenv("CUSTODY_TOKEN", raising=False)
    with pytest.raises(ClientConfigError):
        Client()
    monkeypatch.setenv("CUSTODY_URL", "http://127.0.0.1:1/")
    monkeypatch.setenv("CUSTODY_TOKEN", "t")
    with Client() as c:
        assert str(c.http.base_url) == "http://127.0.0.1:1"
        assert c.http.headers["authorization"] == "Bearer t"
