"""The retry policy: what is retried, how long it waits, when it stops."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from service.client.retry import (
    GaveUp,
    Rejected,
    RetryPolicy,
    post_with_retry,
    retry_after_seconds,
)

Handler = Callable[[httpx.Request], httpx.Response]


def scripted(
    *steps: int | Exception, headers: dict[str, str] | None = None
) -> tuple[Handler, list[int]]:
    """A transport answering each request with the next status (or raising)."""
    seen: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        step = steps[min(len(seen), len(steps) - 1)]
        seen.append(len(seen))
        if isinstance(step, Exception):
            raise step
        body = {"accepted": 1} if step < 300 else {"title": "t", "detail": "d", "errors": []}
        return httpx.Response(step, json=body, headers=headers or {})

    return handle, seen


def post(handler: Handler, policy: RetryPolicy | None = None) -> tuple[httpx.Response, list[float]]:
    waits: list[float] = []
    with httpx.Client(transport=httpx.MockTransport(handler), base_url="http://x") as http:
        response = post_with_retry(
            http,
            "/v1/events",
            content=b"{}",
            headers={},
            policy=policy or RetryPolicy(),
            sleep=waits.append,
        )
    return response, waits


@pytest.mark.parametrize("status", [429, 408, 500, 502, 503, 504])
def test_temporary_statuses_are_retried(status: int) -> None:
    handler, seen = scripted(status, status, 200)
    response, waits = post(handler)
    assert response.status_code == 200
    assert len(seen) == 3 and len(waits) == 2


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("cut")],
)
def test_connection_errors_are_retried(error: Exception) -> None:
    handler, seen = scripted(error, 200)
    assert post(handler)[0].status_code == 200
    assert len(seen) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 409, 413, 415, 422])
def test_permanent_errors_stop_at_once(status: int) -> None:
    handler, seen = scripted(status)
    with pytest.raises(Rejected) as caught:
        post(handler)
    assert caught.value.status == status
    assert len(seen) == 1


def test_rejected_carries_the_problem_errors() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        problem = {"title": "Invalid events", "detail": "1 of 2", "errors": [{"index": 1}]}
        return httpx.Response(422, json=problem)

    with pytest.raises(Rejected) as caught:
        post(handle)
    assert caught.value.errors == [{"index": 1}]
    assert "Invalid events" in str(caught.value)


def test_retry_after_is_a_floor_for_the_wait() -> None:
    handler, _ = scripted(429, 503, 200, headers={"Retry-After": "7"})
    _, waits = post(handler, RetryPolicy(base_delay=0.01))
    assert all(w >= 7 for w in waits)


def test_an_absurd_retry_after_is_capped() -> None:
    handler, _ = scripted(429, 200, headers={"Retry-After": "86400"})
    _, waits = post(handler, RetryPolicy(max_retry_after=60))
    assert waits == [60]


def test_backoff_grows_exponentially_with_full_jitter_and_a_cap() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=8)
    for retry in range(10):
        bound = min(8, 0.5 * 2**retry)
        samples = [policy.delay(retry) for _ in range(200)]
        assert all(0 <= s <= bound for s in samples)
        assert max(samples) > bound / 2  # jitter spreads over the whole range


def test_gives_up_after_max_attempts() -> None:
    handler, seen = scripted(503)
    with pytest.raises(GaveUp, match="HTTP 503"):
        post(handler, RetryPolicy(max_attempts=4))
    assert len(seen) == 4


def test_a_stop_event_aborts_the_wait() -> None:
    handler, seen = scripted(503)
    with (
        httpx.Client(transport=httpx.MockTransport(handler), base_url="http://x") as http,
        pytest.raises(GaveUp, match="stopped"),
    ):
        post_with_retry(
            http,
            "/",
            content=b"",
            headers={},
            policy=RetryPolicy(max_attempts=None),
            sleep=lambda _: True,  # Event.wait answers True once the event is set
        )
    assert len(seen) == 1


def test_retry_after_forms() -> None:
    now = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("120") == 120
    assert retry_after_seconds("Mon, 30 Nov 2026 12:00:30 GMT", now=now) == 30
    assert retry_after_seconds("Mon, 30 Nov 2026 11:00:00 GMT", now=now) == 0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None
